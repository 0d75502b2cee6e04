// @ts-check
// The zero-shot panel: does the safety-tuned model still know what the original knew? A teacher
// types class names (or takes CIFAR-10's), adds images, and reads each image's class
// probabilities by the original and the tuned model side by side, with OpenAI's CIFAR-10 prompt
// templates or the single “a photo of a {}.”.

import { clearBanner, showBanner } from './banners.js';
import { CIFAR10_CLASSES, CIFAR10_TEMPLATES, SINGLE_TEMPLATE } from './cifar10.js';
import { parseClassNames } from './class-names.js';
import { debounce } from './debounce.js';
import { $ } from './dom.js';
import { acceptDrops, imageFiles } from './drop-zone.js';
import { latestOnly } from './latest-only.js';
import { imageFigure, note, removeImageButton, scoreBar } from './result-items.js';

/** @typedef {import('./clip-client.js').ClipClient} ClipClient */
/** @typedef {import('./clip-client.js').ClassReading} ClassReading */
/** @typedef {{ id: number, name: string, file: File, url: string }} ZeroShotImage */

const CLASSES_DELAY_MS = 400;

/** @param {ClipClient} client */
export function setupZeroShotPanel(client) {
  const classesInput = $('zero-shot-classes', HTMLTextAreaElement);
  const cifarButton = $('zero-shot-cifar', HTMLButtonElement);
  const imageInput = $('zero-shot-images', HTMLInputElement);
  const clearButton = $('zero-shot-clear', HTMLButtonElement);
  const status = $('zero-shot-status');
  const results = $('zero-shot-results');

  let hasModel = false;
  /** Bumped when the model changes, so that answers for the previous one are dropped. */
  let generation = 0;
  /** @type {ZeroShotImage[]} */
  let images = [];
  let nextId = 1;
  /**
   * The latest answer, for the classes and images it was asked about.
   * @type {{ classes: string[], images: ZeroShotImage[], original: ClassReading[], tuned: ClassReading[] | null, strength: number } | null}
   */
  let answer = null;

  const templates = () => (/** @type {HTMLInputElement} */ (document.querySelector('input[name="zero-shot-templates"]:checked')).value === 'single'
    ? SINGLE_TEMPLATE : CIFAR10_TEMPLATES);

  const classify = latestOnly(async () => {
    const classes = parseClassNames(classesInput.value);
    const asked = [...images];
    if (!hasModel || classes.length === 0 || asked.length === 0) {
      answer = null;
      status.textContent = !hasModel ? 'Load a model first.'
        : classes.length === 0 ? 'Type some class names, or use CIFAR-10’s.' : 'Add images to classify.';
      return render();
    }
    const started = generation;
    status.textContent = `Classifying ${asked.length} image${asked.length > 1 ? 's' : ''} into ${classes.length} classes…`;
    try {
      const found = await client.zeroShot({ classes, templates: templates(), images: asked.map((image) => image.file) });
      if (started !== generation) return;
      answer = { classes, images: asked, ...found };
      clearBanner('zero-shot');
      status.textContent = found.tuned ? '' : 'No safety-tuned model yet: train or upload an adapter (Safety tuning) to compare it with the original.';
    } catch (error) {
      if (started !== generation) return;
      answer = null;
      status.textContent = '';
      showBanner({ key: 'zero-shot', title: 'Zero-shot classification failed', message: failure(error) });
    }
    render();
  });
  const classifyOncePaused = debounce(classify, CLASSES_DELAY_MS);

  function render() {
    clearButton.hidden = images.length === 0;
    results.replaceChildren(...images.map((image) => {
      const index = answer?.images.indexOf(image) ?? -1;
      return imageResult(image, answer && index >= 0 ? {
        classes: answer.classes,
        original: answer.original[index],
        tuned: answer.tuned?.[index] ?? null,
        strength: answer.strength,
      } : null, () => {
        images = images.filter((other) => other !== image);
        URL.revokeObjectURL(image.url);
        classify();
      });
    }));
  }

  /** @param {File[]} files */
  function addImages(files) {
    for (const file of imageFiles(files, { key: 'zero-shot-types', purpose: 'classified' })) {
      images.push({ id: nextId++, name: file.name, file, url: URL.createObjectURL(file) });
    }
    render();
    classify();
  }

  classesInput.addEventListener('input', classifyOncePaused);
  cifarButton.addEventListener('click', () => {
    classesInput.value = CIFAR10_CLASSES.join('\n');
    classify();
  });
  for (const radio of document.querySelectorAll('input[name="zero-shot-templates"]')) radio.addEventListener('change', classify);
  imageInput.addEventListener('change', () => {
    addImages([...(imageInput.files ?? [])]);
    imageInput.value = '';
  });
  acceptDrops($('zero-shot-drop'), addImages);
  clearButton.addEventListener('click', () => {
    for (const image of images) URL.revokeObjectURL(image.url);
    images = [];
    classify();
  });
  render();

  return {
    /** A new model (or none): everything is classified again with it. */
    setModel(/** @type {object | null} */ model) {
      hasModel = model !== null;
      generation++;
      answer = null;
      imageInput.disabled = !hasModel;
      render();
      classify();
    },
    /** The tuned model changed (a run paused or ended, an adapter came, the dial turned). */
    tunedChanged() {
      classify();
    },
  };
}

/**
 * What to tell the teacher, by the error's name.
 * @param {import('./errors.js').ClipError} error
 */
function failure(error) {
  switch (error.name) {
    case 'NoModel':
      return 'Load a model first.';
    case 'InvalidInput':
      return `The model refused the classes or templates: ${error.message}`;
    case 'DeviceLost':
    case 'OutOfMemory':
    case 'Crashed':
      return `${error.message} Load the model again, then classify again.`;
    default:
      return error.message;
  }
}

/**
 * One image with its class probabilities by the original and the tuned model, as a table (bars
 * and numbers).
 * @param {ZeroShotImage} image
 * @param {{ classes: string[], original: ClassReading, tuned: ClassReading | null, strength: number } | null} reading
 * @param {() => void} onRemove
 */
function imageResult(image, reading, onRemove) {
  const li = document.createElement('li');
  li.className = 'zero-shot-image';
  const figure = imageFigure(image);
  figure.append(removeImageButton(image.name, onRemove));
  li.append(figure);
  if (!reading) {
    li.append(note('Classifying…', 'p'));
    return li;
  }
  const unreadable = 'error' in reading.original ? reading.original.error : null;
  if (unreadable) {
    const p = note(`${image.name} could not be classified: ${unreadable.message}`, 'p');
    p.dataset.error = unreadable.name;
    li.append(p);
    return li;
  }
  const probabilities = (/** @type {ClassReading | null} */ r) => (r && 'probabilities' in r ? r.probabilities : null);
  const columns = [
    { name: 'Original model', model: 'original', values: probabilities(reading.original) },
    {
      name: `Safety-tuned model${reading.strength === 1 ? '' : ` at strength ${reading.strength.toFixed(2)}`}`,
      model: 'tuned',
      values: probabilities(reading.tuned),
    },
  ];
  const table = document.createElement('table');
  table.className = 'zero-shot-table';
  const tableCaption = document.createElement('caption');
  tableCaption.textContent = `Class probabilities for ${image.name}`;
  const head = document.createElement('tr');
  head.append(headerCell('Class'), ...columns.map((column) => headerCell(column.name)));
  const best = columns.map(({ values }) => (values ? values.indexOf(Math.max(...values)) : -1));
  const body = reading.classes.map((name, c) => {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = name;
    tr.append(th, ...columns.map(({ model, values }, m) => {
      const td = document.createElement('td');
      if (values) {
        td.append(probabilityBar(values[c]));
        td.dataset.model = model;
        if (best[m] === c) td.dataset.top = 'true';
      } else {
        td.textContent = '—';
      }
      return td;
    }));
    return tr;
  });
  const thead = document.createElement('thead');
  thead.append(head);
  const tbody = document.createElement('tbody');
  tbody.append(...body);
  table.append(tableCaption, thead, tbody);
  li.append(table);
  const tunedError = reading.tuned && 'error' in reading.tuned ? reading.tuned.error : null;
  if (!reading.tuned) li.append(note('No safety-tuned model yet.', 'p'));
  else if (tunedError) li.append(note(`The safety-tuned model could not classify it: ${tunedError.message}`, 'p'));
  return li;
}

/** @param {string} text */
function headerCell(text) {
  const th = document.createElement('th');
  th.scope = 'col';
  th.textContent = text;
  return th;
}

/** A probability as a bar from 0 to 1 and a percentage. */
function probabilityBar(/** @type {number} */ probability) {
  const bar = scoreBar(probability, `${(probability * 100).toFixed(1)}%`);
  bar.classList.add('probability');
  bar.dataset.probability = String(probability);
  return bar;
}
