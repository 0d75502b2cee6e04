// The messages between the page's client (clip-client.js) and the model worker (worker.js):
// the one place that says what crosses between them.
//
// Page → worker, one message per request:
//   {id, type, args}            `type` names one of the worker's operations (worker.js), `args` its
//                               argument object
// Worker → page, for a request:
//   {id, progress}              while a model loads: a LoadProgress
//   {id, ok: true, result}      the operation's result
//   {id, ok: false, error}      its failure, `{name, message}` (a ClipErrorName, errors.js)
// Worker → page, unasked (events):
//   {event: 'trainstep', report}                  a training step's report
//   {event: 'trainend', reason, error?, saved?}   a run ended: 'done', 'cancelled' or 'error'; after
//                                                 a GPU failure `saved` is the checkpoint this
//                                                 browser keeps ({steps, savedAt} or null)
//   {event: 'crashed', error}                     the module trapped or the GPU failed: the worker
//                                                 answers nothing more, and the page starts a
//                                                 fresh one
//
// Requests run one at a time, in order; a training run steps between them, so that a pause or a
// search is answered between two steps.

/** @typedef {import('./errors.js').ClipErrorName} ClipErrorName */
/** @typedef {{ name: ClipErrorName, message: string }} ErrorData */
/** @typedef {{ id: number, type: string, args?: object }} Request */
/**
 * @typedef {{ id: number, progress: import('./clip-client.js').LoadProgress }
 *   | { id: number, ok: true, result: any }
 *   | { id: number, ok: false, error: ErrorData }} Reply
 */
/**
 * @typedef {{ event: 'trainstep', report: Record<string, any> }
 *   | { event: 'trainend', reason: 'done' | 'cancelled' | 'error', error?: ErrorData,
 *       saved?: { steps: number, savedAt: string } | null }
 *   | { event: 'crashed', error: ErrorData }} WorkerEvent
 */

export {};
