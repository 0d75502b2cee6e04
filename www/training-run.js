// @ts-check
// A LoRA training run in the worker: one step per turn of the worker's background lane, so that
// the page's requests (pause, a search) are answered between steps. Steps and the end of the run
// are posted to the page as events (protocol.js); a checkpoint is kept in this browser every
// `checkpointEvery` steps, at pauses and at the end.

import { saveCheckpoint } from './checkpoint-cache.js';
import { ClipError } from './errors.js';

/** @typedef {import('../pkg/safer_clip.js').WebTrainer} WebTrainer */
/** @typedef {import('../pkg/safer_clip.js').WebClip} WebClip */
/** @typedef {import('./scheduler.js').WorkContext} WorkContext */
/**
 * @typedef {{ trainer: WebTrainer, paused: boolean, checkpointEvery: number, hyperbolic: boolean }} Run
 */

const JOB = 'training';

export class Training {
  /** @type {Run | null} */
  #run = null;
  #context;
  #onTuned;

  /**
   * @param {Omit<WorkContext, 'session'>} context
   * @param {(model: WebClip, options: { final: boolean }) => void} onTuned takes the run's tuned
   *   model after each step (`final` at pauses and at the end)
   */
  constructor(context, onTuned) {
    this.#context = context;
    this.#onTuned = onTuned;
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
    const run = { trainer, paused: false, checkpointEvery, hyperbolic };
    this.#run = run;
    this.#context.background(JOB, () => this.#step(run));
  }

  /** Stops after the current step and keeps a checkpoint of it in this browser. */
  async pause() {
    const run = this.#run;
    if (!run) return { stepsDone: 0 };
    run.paused = true;
    this.#context.cancel(JOB);
    await saveCheckpoint(run.trainer);
    const tuned = run.hyperbolic ? await this.#context.core(() => run.trainer.tunedHyperbolic()) : run.trainer.tuned();
    this.#onTuned(tuned, { final: true });
    return { stepsDone: run.trainer.stepsDone };
  }

  resume() {
    const run = this.#run;
    if (!run) throw new ClipError('NoTraining', 'There is no training run to resume.');
    if (run.paused) {
      run.paused = false;
      this.#context.background(JOB, () => this.#step(run));
    }
    return { stepsDone: run.trainer.stepsDone };
  }

  /**
   * Ends the run, if there is one, and tells the page.
   * @param {'cancelled'} reason
   */
  stop(reason) {
    if (!this.#run) return;
    this.#context.cancel(JOB);
    this.#run.trainer.free();
    this.#run = null;
    this.#context.post({ event: 'trainend', reason });
  }

  /**
   * Forgets the run without touching the module (after a trap or a GPU failure).
   * @returns {boolean} whether there was one
   */
  abandon() {
    this.#context.cancel(JOB);
    const had = this.#run !== null;
    this.#run = null;
    return had;
  }

  /** The run's adapters as a safetensors file, or null without a run. */
  async adapter() {
    const run = this.#run;
    return run ? this.#context.core(() => run.trainer.adapter()) : null;
  }

  /**
   * One step of `run`; says whether another follows.
   * @param {Run} run
   */
  async #step(run) {
    if (this.#run !== run || run.paused) return false;
    let report;
    try {
      report = await this.#context.core(() => run.trainer.step());
      if (report && report.step % run.checkpointEvery === 0) await saveCheckpoint(run.trainer);
    } catch (error) {
      // A GPU failure or a trap has ended the run already (abandon), and the module is not to
      // be used.
      if (this.#run !== run) return false;
      // The adapters stay the last good ones; keep them so they can still be downloaded.
      await saveCheckpoint(run.trainer).catch(() => {});
      const { name, message } = error instanceof ClipError ? error : new ClipError('TrainingStopped', String(error));
      run.paused = true;
      this.#context.post({ event: 'trainend', reason: 'error', error: { name, message } });
      return false;
    }
    if (!report) {
      await saveCheckpoint(run.trainer);
      this.#onTuned(run.hyperbolic ? await this.#context.core(() => run.trainer.tunedHyperbolic()) : run.trainer.tuned(), { final: true });
      this.#context.post({ event: 'trainend', reason: 'done' });
      return false;
    }
    // The tuned model follows the adapters after every step, for before/after views.
    this.#onTuned(run.trainer.tuned(), { final: false });
    this.#context.post({ event: 'trainstep', report });
    return true;
  }
}
