// The page: starts the CLIP worker, checks for WebGPU, and wires the panels together.

import { showBanner } from './banners.js';
import { ClipClient } from './clip-client.js';
import { setupExplorePanel } from './explore-panel.js';
import { setupModelPanel } from './model-panel.js';
import { setupSafetyPanel } from './safety-panel.js';
import { setupSearchPanel } from './search-panel.js';

const client = new ClipClient();
const search = setupSearchPanel(client);
const explore = setupExplorePanel(client);
const safety = setupSafetyPanel(client, {
  onTunedChange: () => {
    explore.tunedChanged();
    search.tunedChanged();
  },
});
const modelPanel = setupModelPanel(client, {
  onModel: (model) => {
    search.setModel(model);
    safety.setModel(model);
    explore.setModel(model);
  },
});
const gpuStatus = document.getElementById('gpu-status');

// A file dropped outside a drop zone would otherwise replace the page with itself.
for (const type of ['dragover', 'drop']) window.addEventListener(type, (event) => event.preventDefault());

try {
  const adapter = await client.start();
  const name = [adapter.vendor, adapter.architecture || adapter.description].filter(Boolean).join(' ') || 'a GPU';
  gpuStatus.textContent = `WebGPU on ${name}${adapter.isFallbackAdapter ? ' (software, slow)' : ''}.`;
  modelPanel.enable();
} catch (error) {
  document.body.classList.add(error.name === 'NoWebGPU' ? 'no-webgpu' : 'not-started');
  if (error.name === 'NoWebGPU') {
    gpuStatus.textContent = 'WebGPU is not available.';
    showBanner({
      key: 'webgpu',
      title: 'This browser cannot run the model: WebGPU is not available',
      message: error.message,
      details: webGpuAdvice(),
      dismissible: false,
    });
  } else {
    gpuStatus.textContent = 'The app could not start.';
    showBanner({ key: 'start', title: 'The app could not start', message: error.message, dismissible: false });
  }
}

function webGpuAdvice() {
  const list = document.createElement('ul');
  for (const advice of [
    'Use a recent Chrome or Edge (version 113 or newer) on Windows, macOS or ChromeOS, where WebGPU is on by default.',
    'On Linux or Android, open chrome://flags, enable “Unsafe WebGPU Support” (#enable-unsafe-webgpu), and restart the browser.',
    'Recent Safari and Firefox versions have WebGPU on some systems; if yours does not, use Chrome or Edge.',
    'Check chrome://gpu: WebGPU must not be listed as disabled or blocklisted for your graphics driver.',
  ]) {
    const item = document.createElement('li');
    item.textContent = advice;
    list.append(item);
  }
  return list;
}
