// @ts-check
// The messages between the page's client (clip-client.js) and the model worker (worker.js):
// the one place that says what crosses between them.
//
// Page → worker, one message per request:
//   {id, type, args, background?}  `type` names one of the worker's operations (worker.js), `args`
//                               its argument object; `background`: work the visitor does not wait
//                               for (the explore view's captions), run behind their requests
// Worker → page, for a request:
//   {id, progress}              while a model loads: a LoadProgress
//   {id, ok: true, result}      the operation's result
//   {id, ok: false, error}      its failure, `{name, message}` (a ClipErrorName, errors.js)
// Worker → page, unasked (events):
//   {event: 'trainstep', report}                  a training step's report
//   {event: 'trainend', reason, error?, saved?}   a run ended: 'done', 'cancelled' or 'error'; after
//                                                 a GPU failure `saved` is the checkpoint this
//                                                 browser keeps ({steps, savedAt} or null)
//   {event: 'pool', kind, embedded, size}         the caption pool's background work got further:
//                                                 `kind` 'original' or 'tuned' (embedded by that
//                                                 model) or 'lifted' (onto a HySAC model's
//                                                 hyperboloid)
//   {event: 'tradeoff', trace, points, size, error?}  the trained model's safety–knowledge curve got
//                                                 a point further (`points` so far of `size`), or
//                                                 stopped with `error`; `trace` says which curve
//                                                 (traceTradeoff's answer)
//   {event: 'folder', summary}                    the folder of the visitor's images got further
//                                                 (a batch embedded): a FolderSummary
//   {event: 'timings', timings}                   the first text result after a model loaded: how
//                                                 long it took, from the fetch to the answer
//   {event: 'crashed', error}                     the module trapped or the GPU failed: the worker
//                                                 answers nothing more, and the page starts a
//                                                 fresh one
//
// Requests run one at a time, in order, before any background work (the pool's embedding, a
// training run's steps), which runs a chunk or a step at a time between them.

/** @typedef {import('./errors.js').ClipErrorName} ClipErrorName */
/** @typedef {{ name: ClipErrorName, message: string }} ErrorData */
/** @typedef {{ id: number, type: string, args?: object, background?: boolean }} Request */
/**
 * Where a model's first text result spent its time: fetching the files, reading the weights
 * into the backend, warming it up (compiling its GPU pipelines), then waiting behind other work
 * and computing the answer.
 * @typedef {{ fetchMs: number, loadMs: number, warmUpMs: number }} LoadTimings
 * @typedef {LoadTimings & { waitMs: number, computeMs: number }} FirstTextTimings
 */
/**
 * A HySAC model's reading of a text or image: its root distance, whether that lies beyond the
 * safe region (null: an image, where the adapter has no bound for images), and for a text the
 * categories whose classifier thresholds it exceeds (empty without thresholds).
 * @typedef {{ distance: number, unsafe: boolean | null, flagged_by?: string[] }} Reading
 */
/**
 * One point of the safety–knowledge curve, as the core measures it on text pairs: the share of
 * unsafe captions whose nearest caption is a safe one (`safe_top1`), the recall of each unsafe
 * caption's paired safe caption, and the mean cosine between the original's and this strength's
 * embeddings of the safe captions (`safe_caption_cosine`: the knowledge kept).
 * @typedef {{ strength: number, safe_top1: number, paired_safe: { k: number, recall: number }[],
 *   zero_shot_accuracy: number | null, safe_caption_cosine: number }} TradeoffPoint
 */
/**
 * The folder of the visitor's images: how many it holds, how many the loaded model has embedded,
 * how many wait for it, how many it cannot embed because their files are gone (the page
 * reloaded: the folder must be picked again), those skipped with their reason, whether the
 * visitor stopped the embedding, and how far the tuned model got with the images it has files for
 * (null: there is no tuned model).
 * @typedef {{ size: number, embedded: number, pending: number, withoutFiles: number,
 *   skipped: { id: number, path: string, reason: string }[], cancelled: boolean,
 *   tuned: { hyperbolic: boolean, embedded: number, embeddable: number } | null }} FolderSummary
 */
/**
 * An image found in the folder: by cosine (`score`, higher is nearer), or by a HySAC model's
 * Lorentzian distance (`distance`, lower is nearer) with its safe/unsafe reading.
 * @typedef {{ id: number, path: string, score?: number, distance?: number, reading?: Reading | null }} FolderHit
 */
/**
 * The images nearest to a query by the original model, and by the tuned model (null: there is
 * none, or it cannot take this query), with a HySAC model's reading of a text query.
 * @typedef {{ original: FolderHit[], tuned: { hyperbolic: boolean, results: FolderHit[], query: Reading | null,
 *   categories: string[] | null, redirected: number | null } | null }} FolderSearch
 */
/**
 * @typedef {{ id: number, progress: import('./clip-client.js').LoadProgress }
 *   | { id: number, ok: true, result: any }
 *   | { id: number, ok: false, error: ErrorData }} Reply
 */
/**
 * @typedef {{ event: 'trainstep', report: Record<string, any> }
 *   | { event: 'trainend', reason: 'done' | 'cancelled' }
 *   | { event: 'trainend', reason: 'error', error: ErrorData, saved?: { steps: number, savedAt: string | null } | null }
 *   | { event: 'pool', kind: 'original' | 'tuned' | 'lifted', embedded: number, size: number }
 *   | { event: 'tradeoff', trace: number, points: TradeoffPoint[], size: number, error?: ErrorData }
 *   | { event: 'folder', summary: FolderSummary }
 *   | { event: 'timings', timings: FirstTextTimings }
 *   | { event: 'crashed', error: ErrorData }} WorkerEvent
 */

export {};
