// @ts-check
// The page: starts the CLIP worker, says which path the model takes (WebGPU or the CPU), and
// wires the panels together.

import { showBanner } from './banners.js';
import { ClipClient } from './clip-client.js';
import { setupDial } from './dial-panel.js';
import { $ } from './dom.js';
import { setupExplorePanel } from './explore-panel.js';
import { setupFolderPanel } from './folder-panel.js';
import { setupModelPanel } from './model-panel.js';
import { setupSafetyPanel } from './safety-panel.js';
import { setupSearchPanel } from './search-panel.js';
import { setupZeroShotPanel } from './zero-shot-panel.js';

const client = new ClipClient();
const search = setupSearchPanel(client);
const folder = setupFolderPanel(client);
const explore = setupExplorePanel(client);
const zeroShot = setupZeroShotPanel(client);
const dial = setupDial(client, {
  onStrength: (strength) => {
    explore.tunedChanged({ strength });
    search.tunedChanged();
    safety.strengthChanged();
    folder.tunedChanged();
    zeroShot.tunedChanged();
  },
});
const safety = setupSafetyPanel(client, {
  onTunedChange: () => {
    explore.tunedChanged();
    search.tunedChanged();
    folder.tunedChanged();
    zeroShot.tunedChanged();
    dial.tunedChanged();
  },
});
const modelPanel = setupModelPanel(client, {
  onModel: (model) => {
    search.setModel(model);
    folder.setModel(model);
    safety.setModel(model);
    explore.setModel(model);
    zeroShot.setModel(model);
    dial.setModel(model);
  },
});
const gpuStatus = $('gpu-status');

// A file dropped outside a drop zone would otherwise replace the page with itself.
for (const type of ['dragover', 'drop']) window.addEventListener(type, (event) => event.preventDefault());

try {
  const capabilities = await client.start();
  gpuStatus.textContent = describePaths(capabilities);
  modelPanel.enable(capabilities);
} catch (error) {
  gpuStatus.textContent = 'The app could not start.';
  const title = error.name === 'NoSimd' ? 'This browser cannot run the model: its WebAssembly lacks SIMD' : 'The app could not start';
  showBanner({ key: 'start', title, message: error.message, dismissible: false });
}

/** @param {import('./clip-client.js').Capabilities} capabilities */
function describePaths({ gpu, backend }) {
  if (!gpu) return 'No WebGPU in this browser: the model runs on the CPU (WebAssembly), slower than on a GPU.';
  const name = [gpu.vendor, gpu.architecture || gpu.description].filter(Boolean).join(' ') || 'a GPU';
  return backend === 'gpu'
    ? `WebGPU on ${name}: the model runs on the GPU.`
    : `WebGPU on ${name} (software, slower than the CPU path): the model runs on the CPU; the model panel switches paths.`;
}
