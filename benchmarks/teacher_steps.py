"""How few steps can the teacher take? Class-prompt accuracy and Fréchet distance per sampler and step count.

    python benchmarks/teacher_steps.py [--checkpoint checkpoints/fashion-mnist] [--images-per-prompt 20]
        [--steps 5,10,20] [--schedulers ddim,dpm++,euler,unipc,ddpm]

For every (sampler, steps): N images of each plain class prompt ("a sneaker", ...) at guidance 3, judged
by the evaluation's reference classifier; the Fréchet distance in its features to the test set, beside
the floor real training images get at the same count. The same noise (seed + i) for every row, so the
rows differ only by the sampler. Seconds are for the whole row, on this machine, at that moment.
"""

from __future__ import annotations

import argparse
import time

import torch

from diffusion import TextToImagePipeline
from diffusion.data import load_dataset
from diffusion.evaluation.classifier import default_classifier_dir, embed, load_classifier
from diffusion.evaluation.generate import generate
from diffusion.evaluation.metrics import frechet_distance
from diffusion.evaluation.prompt_sets import class_prompt_set
from diffusion.evaluation.run import stratified_sample
from diffusion.pipeline import pipeline_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="checkpoints/fashion-mnist")
    parser.add_argument("--images-per-prompt", type=int, default=20)
    parser.add_argument("--steps", default="5,10,20")
    parser.add_argument("--schedulers", default="ddim,dpm++,euler,unipc,ddpm")
    parser.add_argument("--guidance", type=float, default=3.0)
    args = parser.parse_args()
    pipe = TextToImagePipeline.from_pretrained(args.checkpoint, device="cpu")
    dataset = pipeline_dataset(pipe) or "fashion_mnist"
    classifier = load_classifier(default_classifier_dir(dataset), "cpu")
    test = load_dataset(dataset, None, train=False)
    train = load_dataset(dataset, None, train=True)
    n, classes = args.images_per_prompt, len(test.class_names)
    prompts = class_prompt_set(dataset).prompts[:classes]  # the plain class prompts, in label order
    labels = torch.arange(classes).repeat_interleave(n)
    test_features = embed(classifier, test.images)[1]
    floor_images = train.images[torch.cat(stratified_sample(train.labels, n, classes, 0))]
    floor = frechet_distance(embed(classifier, floor_images)[1], test_features)
    print(
        f"{args.checkpoint}: {n} images per class prompt, guidance {args.guidance:g}; "
        f"Fréchet floor (real training images, {n * classes}) {floor:.2f}"
    )
    print("| sampler | steps | class-prompt accuracy | Fréchet | seconds |\n|---|---|---|---|---|")
    for scheduler in args.schedulers.split(","):
        for steps in [int(s) for s in args.steps.split(",")]:
            start = time.perf_counter()
            images = generate(
                pipe, prompts, n, 0, scheduler=scheduler, num_inference_steps=steps, guidance_scale=args.guidance
            )
            seconds = time.perf_counter() - start
            logits, features = embed(classifier, images)
            accuracy = (logits.argmax(1) == labels).float().mean().item()
            print(
                f"| {scheduler} | {steps} | {accuracy:.1%} | {frechet_distance(features, test_features):.2f} "
                f"| {seconds:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
