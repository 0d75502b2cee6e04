// @ts-check
// The errors that cross from the worker to the page. Each has a `name` the page can act on and
// a `message` written for the user.

/**
 * @typedef {'NoWebGPU'        // the GPU path was asked for where WebGPU grants no adapter
 *   | 'NoSimd'                // WebAssembly lacks SIMD, which the core needs on either path
 *   | 'AppNotBuilt'           // pkg/ is missing: run ./build.sh
 *   | 'ModelFileMissing'      // a model file was not found or not picked
 *   | 'NetworkError'          // a download failed
 *   | 'InvalidModel'          // the files are not a CLIP checkpoint this app can read
 *   | 'NoModel'               // encoding was asked for before a model was loaded
 *   | 'InvalidInput'          // a text, image, option or pool the model refuses
 *   | 'NoPool'                // a search or a run was asked for before a caption pool was set
 *   | 'InvalidPool'           // a caption pool file with a blank line, or none
 *   | 'NoAdapter'             // the tuned model (its dial, its curve) was asked for before training or an upload
 *   | 'InvalidAdapter'        // an uploaded adapter file does not fit the model
 *   | 'NoTraining'            // a run was to be resumed where none is going
 *   | 'NoCheckpoint'          // a kept run was to be resumed where this browser keeps none
 *   | 'InvalidCheckpoint'     // the kept checkpoint does not fit the model
 *   | 'InvalidTraining'       // the pairs or options of a run are refused
 *   | 'TrainingStopped'       // a step's loss or gradient went non-finite (adapters kept)
 *   | 'NotHyperbolic'         // a HySAC view was asked of a model without a HySAC head
 *   | 'DeviceError'           // the backend failed (a read-back that did not come)
 *   | 'DeviceLost'            // the GPU device was lost (driver reset, GPU gone): load again
 *   | 'OutOfMemory'           // the GPU ran out of memory: smaller batches, or free the GPU
 *   | 'Crashed'               // the WebAssembly module stopped (a bug, or a GPU failure)
 *   | 'WorkerError'           // the worker itself failed
 * } ClipErrorName
 */

/**
 * The names the core gives its errors (pkg/safer_clip.js); the worker passes them on, renamed
 * per call where the page needs to know more (an InvalidModel from an adapter file is an
 * InvalidAdapter).
 * @typedef {'InvalidModel' | 'InvalidInput' | 'DeviceError' | 'TrainingStopped' | 'NotHyperbolic' | 'NoAdapter'} CoreErrorName
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

/**
 * An error as it crosses to the page: a ClipError's name and message; anything else is a
 * WorkerError.
 * @param {unknown} error
 * @returns {{ name: ClipErrorName, message: string }}
 */
export function errorData(error) {
  if (error instanceof ClipError) return { name: /** @type {ClipErrorName} */ (error.name), message: error.message };
  return { name: 'WorkerError', message: String(/** @type {any} */ (error)?.message ?? error) };
}
