// @ts-check
// CIFAR-10's class names and the prompt templates OpenAI used for its zero-shot results, from
// openai/CLIP's data/prompts.md (MIT License, Copyright (c) 2021 OpenAI). `{}` is where a class
// name goes.

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

export const CIFAR10_TEMPLATES = [
  'a photo of a {}.',
  'a blurry photo of a {}.',
  'a black and white photo of a {}.',
  'a low contrast photo of a {}.',
  'a high contrast photo of a {}.',
  'a bad photo of a {}.',
  'a good photo of a {}.',
  'a photo of a small {}.',
  'a photo of a big {}.',
  'a photo of the {}.',
  'a blurry photo of the {}.',
  'a black and white photo of the {}.',
  'a low contrast photo of the {}.',
  'a high contrast photo of the {}.',
  'a bad photo of the {}.',
  'a good photo of the {}.',
  'a photo of the small {}.',
  'a photo of the big {}.',
];

/** The single template, for a quicker and plainer reading. */
export const SINGLE_TEMPLATE = ['a photo of a {}.'];
