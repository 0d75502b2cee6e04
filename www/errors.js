// The errors that cross from the worker to the page. Each has a `name` the page can act on and
// a `message` written for the user.

/**
 * @typedef {'NoWebGPU'        // no WebGPU adapter: the browser lacks it or has it turned off
 *   | 'AppNotBuilt'           // pkg/ is missing: run ./build.sh
 *   | 'ModelFileMissing'      // a model file was not found or not picked
 *   | 'NetworkError'          // a download failed
 *   | 'InvalidModel'          // the files are not a CLIP checkpoint this app can read
 *   | 'NoModel'               // encoding was asked for before a model was loaded
 *   | 'InvalidInput'          // a text or image the model cannot encode
 *   | 'NoAdapter'             // the tuned model was asked for before training or an upload
 *   | 'DeviceLost'            // the GPU device was lost (driver reset, GPU gone): load again
 *   | 'OutOfMemory'           // the GPU ran out of memory: smaller batches, or free the GPU
 *   | 'Crashed'               // the WebAssembly module stopped (a bug, or a GPU failure)
 *   | 'WorkerError'           // the worker itself failed
 * } ClipErrorName
 */

export class ClipError extends Error {
  /**
   * @param {ClipErrorName} name
   * @param {string} message
   */
  constructor(name, message) {
    super(message);
    this.name = name;
  }
}
