// @ts-check
// The worker's two lanes of work. The visitor's requests run first, in the order they came;
// background jobs (embedding the caption pool, lifting it, a training run's steps, the explore
// view's captions) run one turn at a time, taking turns, and only while no request waits. A
// request that comes during a turn waits for that turn alone.

/**
 * A background job's turn: does one chunk of work and says whether more is left.
 * @typedef {() => Promise<boolean>} Turn
 * @typedef {{ key: string, turn: Turn, cancelled: boolean }} Job
 */

/**
 * What the worker gives each kind of background work: the `session` it reads; `background` adds a
 * job to the background lane and `cancel` drops one; `core` runs a call of the core, turning its
 * failures into ClipErrors; `post` sends an event to the page.
 * @typedef {{ session: import('./session.js').Session,
 *   background: (key: string, turn: Turn) => void,
 *   cancel: (key: string) => void,
 *   core: <T>(call: () => T | Promise<T>) => Promise<T>,
 *   post: (event: import('./protocol.js').WorkerEvent) => void }} WorkContext
 */

export class Scheduler {
  /** @type {{ task: (waitedMs: number) => Promise<unknown>, queuedAt: number, resolve: (value: any) => void, reject: (error: unknown) => void }[]} */
  #requests = [];
  /** @type {Job[]} */
  #jobs = [];
  /** @type {Job | null} the job whose turn is running */
  #turning = null;
  #running = false;
  #now;
  #pause;
  #onError;

  /**
   * @param {{ now?: () => number, pause?: () => Promise<void>, onError?: (key: string, error: unknown) => void }} [options]
   *   `pause` lets the requests that arrived meanwhile in (the default waits a macrotask);
   *   `onError` hears of a job whose turn failed, and which is dropped
   */
  constructor({ now = () => performance.now(), pause = () => new Promise((resolve) => setTimeout(resolve, 0)), onError = () => {} } = {}) {
    this.#now = now;
    this.#pause = pause;
    this.#onError = onError;
  }

  /**
   * Runs `task` before any background turn; it is told how long it waited.
   * @template T
   * @param {(waitedMs: number) => Promise<T>} task
   * @returns {Promise<T>}
   */
  request(task) {
    return new Promise((resolve, reject) => {
      this.#requests.push({ task, queuedAt: this.#now(), resolve, reject });
      this.#run();
    });
  }

  /**
   * Adds a background job, in place of one with the same key.
   * @param {string} key
   * @param {Turn} turn
   */
  background(key, turn) {
    this.cancel(key);
    this.#jobs.push({ key, turn, cancelled: false });
    this.#run();
  }

  /**
   * Drops the job with this key; one whose turn is running stops after it.
   * @param {string} key
   */
  cancel(key) {
    for (const job of [...this.#jobs, this.#turning]) if (job?.key === key) job.cancelled = true;
    this.#jobs = this.#jobs.filter((job) => !job.cancelled);
  }

  async #run() {
    if (this.#running) return;
    this.#running = true;
    try {
      while (this.#requests.length > 0 || this.#jobs.length > 0) {
        const request = this.#requests.shift();
        if (request) {
          const started = this.#now();
          await request.task(started - request.queuedAt).then(request.resolve, request.reject);
          continue;
        }
        const job = /** @type {Job} */ (this.#jobs.shift());
        this.#turning = job;
        let more = false;
        try {
          more = await job.turn();
        } catch (error) {
          this.#onError(job.key, error);
        } finally {
          this.#turning = null;
        }
        if (more && !job.cancelled) this.#jobs.push(job);
        await this.#pause();
      }
    } finally {
      this.#running = false;
    }
  }
}
