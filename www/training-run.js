// A LoRA training run in the worker, one step per turn of the worker's queue, so that the page's
// requests (pause, a search) are answered between steps. Steps and the end of the run are posted
// to the page as events (protocol.js); a checkpoint is kept in this browser every
// `checkpointEvery` steps, at pauses and at the end.

import { saveCheckpoint } from './checkpoint-cache.js';
import { ClipError } from './errors.js';

/** @typedef {import('../pkg/safer_clip.js').WebTrainer} WebTrainer */
/** @typedef {import('./session.js').Session} Session */
/** @typedef {import('./protocol.js').WorkerEvent} WorkerEvent */
/**
 * @typedef {{ trainer: WebTrainer, paused: boolean, checkpointEvery: number, hyperbolic: boolean }} Run
 */

export class Training {
  /** @type {Run | null} */
  #run = null;
  #session;
  #schedule;
  #post;
  #core;
  #crashed;

  /**
   * @param {{ session: Session, schedule: (task: () => Promise<void>) => void,
   *   post: (event: WorkerEvent) => void,
   *   core: <T>(call: () => T | Promise<T>) => Promise<T>,
   *   crashed: () => boolean }} worker `schedule` queues a task behind the requests waiting;
   *   `core` runs a call of the core, turning its failures into ClipErrors; `crashed` tells when
   *   the module may no longer be used
   */
  constructor({ session, schedule, post, core, crashed }) {
    this.#session = session;
    this.#schedule = schedule;
    this.#post = post;
    this.#core = core;
    this.#crashed = crashed;
  }

  get running() {
    return this.#run !== null;
  }

  /**
   * Steps `trainer` from now on, in place of any run before it. A HySAC run's tuned model
   * classifies and traverses once its safe region is measured: at pauses and at the end
   * (measuring it embeds every training pair).
   * @param {WebTrainer} trainer
   * @param {{ checkpointEvery: number, hyperbolic: boolean }} options
   */
  start(trainer, { checkpointEvery, hyperbolic }) {
    this.stop('cancelled');
    this.#run = { trainer, paused: false, checkpointEvery, hyperbolic };
    this.#scheduleStep(this.#run);
  }

  /** Stops after the current step and keeps a checkpoint of it in this browser. */
  async pause() {
    const run = this.#run;
    if (!run) return { stepsDone: 0 };
    run.paused = true;
    await saveCheckpoint(run.trainer);
    if (run.hyperbolic) this.#session.setTuned(await this.#core(() => run.trainer.tunedHyperbolic()));
    return { stepsDone: run.trainer.stepsDone };
  }

  resume() {
    const run = this.#run;
    if (!run) throw new ClipError('NoTraining', 'There is no training run to resume.');
    if (run.paused) {
      run.paused = false;
      this.#scheduleStep(run);
    }
    return { stepsDone: run.trainer.stepsDone };
  }

  /**
   * Ends the run, if there is one, and tells the page why.
   * @param {'cancelled' | 'error'} reason
   */
  stop(reason) {
    if (!this.#run) return;
    this.#run.trainer.free();
    this.#run = null;
    this.#post({ event: 'trainend', reason });
  }

  /**
   * Forgets the run without touching the module (after a trap or a GPU failure).
   * @returns {boolean} whether there was one
   */
  abandon() {
    const had = this.#run !== null;
    this.#run = null;
    return had;
  }

  /** The run's adapters as a safetensors file, or null without a run. */
  async adapter() {
    const run = this.#run;
    return run ? this.#core(() => run.trainer.adapter()) : null;
  }

  /** @param {Run} run */
  #scheduleStep(run) {
    this.#schedule(() => this.#step(run));
  }

  /** @param {Run} run */
  async #step(run) {
    if (this.#run !== run || run.paused || this.#crashed()) return;
    let report;
    try {
      report = await this.#core(() => run.trainer.step());
      if (report && report.step % run.checkpointEvery === 0) await saveCheckpoint(run.trainer);
    } catch (error) {
      // A GPU failure or a trap has ended the run already, and the module is not to be used.
      if (this.#crashed()) return;
      // The adapters stay the last good ones; keep them so they can still be downloaded.
      await saveCheckpoint(run.trainer).catch(() => {});
      const { name, message } = error instanceof ClipError ? error : new ClipError('TrainingStopped', String(error));
      run.paused = true;
      this.#post({ event: 'trainend', reason: 'error', error: { name, message } });
      return;
    }
    if (!report) {
      await saveCheckpoint(run.trainer);
      this.#session.setTuned(run.hyperbolic ? await this.#core(() => run.trainer.tunedHyperbolic()) : run.trainer.tuned());
      this.#post({ event: 'trainend', reason: 'done' });
      return;
    }
    // The tuned model is refreshed from the adapters after every step, for before/after views.
    this.#session.setTuned(run.trainer.tuned());
    this.#post({ event: 'trainstep', report });
    this.#scheduleStep(run);
  }
}
