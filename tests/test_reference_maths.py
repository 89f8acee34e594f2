"""The hand-written maths against the library it mirrors, on tiny real UNets.

The attention processor against diffusers' own, the clean-image guess against each sampler's, the
pipeline against a plain diffusers denoising loop, the training loss against the formulas written out.
A diffusers upgrade that changed any of them would fail here, not silently change the pictures.
"""

from __future__ import annotations

import copy
import inspect
import math

import pytest
import torch
from diffusers import DDPMScheduler
from diffusers.models.attention_processor import Attention, AttnProcessor

from diffusion.common.config import load_config
from diffusion.common.defaults import DEFAULT_GUIDANCE_INTERVAL
from diffusion.model import attention
from diffusion.model.attention import AttentionStore, RecordingAttnProcessor
from diffusion.model.text import EMBEDDING_DIM, shared_text_encoder
from diffusion.model.unet import build_unet
from diffusion.sampling.pipeline import TextToImagePipeline, alpha_bar_of_step, predict_clean_image
from diffusion.sampling.schedulers import SAMPLERS, SCHEDULERS, make_scheduler
from diffusion.training.train import training_loss
from diffusion.training.training_data import batch_text, draw_captions, prepare_data

from .conftest import ROOT

PREDICTION_TYPES = ["epsilon", "v_prediction"]
# LCM's step returns a consistency-model blend of x0 and x_t, not x0 itself: nothing to compare with.
SAMPLERS_WITH_X0 = [name for name in SCHEDULERS if name != "lcm"]
TIGHT = {"atol": 1e-5, "rtol": 1e-5}


def step_with(sampler, generator) -> dict:
    """Stochastic samplers (ddpm, lcm) take a generator for their fresh noise; the others take none."""
    return {"generator": generator} if "generator" in inspect.signature(sampler.step).parameters else {}


def tiny_unet(size: int = 8, seed: int = 0):
    torch.manual_seed(seed)
    return build_unet(load_config(ROOT / "configs" / "tiny.yaml").model, (1, size, size)).eval()


def training_schedule(prediction_type: str) -> DDPMScheduler:
    """The training noise schedule, without clipping: the sampler's x0 is then the plain formula."""
    return DDPMScheduler(beta_schedule="squaredcos_cap_v2", prediction_type=prediction_type, clip_sample=False)


def text_conditioning(batch: int, length: int = 5, padded: int = 2, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randn(batch, length, EMBEDDING_DIM, generator=generator)
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[1:, length - padded :] = 0  # some prompts are shorter: their padding must get no attention
    pooled = torch.randn(batch, EMBEDDING_DIM, generator=generator)
    return tokens, mask, pooled


# ----- attention -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fused", [False, True])
def test_one_cross_attention_layer_matches_diffusers_and_records_its_probabilities(monkeypatch, fused):
    monkeypatch.setattr(attention, "USE_FUSED_ON_CPU", fused)  # both code paths of the processor
    torch.manual_seed(0)
    layer = Attention(query_dim=16, cross_attention_dim=EMBEDDING_DIM, heads=2, dim_head=8).eval()
    hidden = torch.randn(3, 16, 16)  # (batch, 4x4 positions, channels)
    tokens, mask, _ = text_conditioning(3)
    bias = ((1 - mask) * -10000.0)[:, None, :]  # as UNet2DConditionModel hands a mask to its layers

    with torch.no_grad():
        expected = AttnProcessor()(layer, hidden, tokens, attention_mask=bias)
        plain = RecordingAttnProcessor()(layer, hidden, tokens, attention_mask=bias)
        store = AttentionStore(size=4)
        recorded = RecordingAttnProcessor()(layer, hidden, tokens, attention_mask=bias, attention_store=store)
        # diffusers' own attention probabilities, averaged over heads, as (batch, tokens, 4, 4) maps
        query = layer.head_to_batch_dim(layer.to_q(hidden))
        key = layer.head_to_batch_dim(layer.to_k(tokens))
        probs = layer.get_attention_scores(query, key, layer.prepare_attention_mask(bias, 5, 3))
        maps = probs.view(3, 2, 16, 5).mean(1).transpose(1, 2).reshape(3, 5, 4, 4)

    torch.testing.assert_close(plain, expected, **TIGHT)
    torch.testing.assert_close(recorded, expected, **TIGHT)
    torch.testing.assert_close(store.mean(), maps, **TIGHT)
    assert store.mean()[1:, 3:].abs().max() < 1e-6  # padding tokens get no attention


@pytest.mark.parametrize("fused", [False, True])
def test_a_unet_with_the_recording_processor_computes_what_diffusers_computes(monkeypatch, fused):
    monkeypatch.setattr(attention, "USE_FUSED_ON_CPU", fused)
    ours = tiny_unet()
    reference = copy.deepcopy(ours)
    reference.set_attn_processor(AttnProcessor())
    tokens, mask, pooled = text_conditioning(3)
    x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    t = torch.tensor([10, 500, 990])
    kwargs = dict(encoder_hidden_states=tokens, encoder_attention_mask=mask, class_labels=pooled)
    store = AttentionStore(size=8)
    with torch.no_grad():
        expected = reference(x, t, **kwargs).sample
        plain = ours(x, t, **kwargs).sample
        recorded = ours(x, t, cross_attention_kwargs={"attention_store": store}, **kwargs).sample
    torch.testing.assert_close(plain, expected, **TIGHT)
    torch.testing.assert_close(recorded, expected, **TIGHT)
    assert store.count > 0 and store.mean().shape == (3, 5, 8, 8)
    torch.testing.assert_close(store.mean().sum(1), torch.ones(3, 8, 8), atol=1e-5, rtol=0)


# ----- the clean-image guess -------------------------------------------------------------------------------------


@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
@pytest.mark.parametrize("name", SAMPLERS_WITH_X0)
def test_predict_clean_image_is_each_samplers_own_x0(name, prediction_type):
    sampler = make_scheduler(name, training_schedule(prediction_type).config)
    sampler.set_timesteps(8)
    generator = torch.Generator().manual_seed(0)
    latents = torch.randn(2, 1, 8, 8, generator=generator) * sampler.init_noise_sigma
    for t in sampler.timesteps[:4]:
        x_t = sampler.scale_model_input(latents, t)
        model_output = torch.randn(latents.shape, generator=generator)
        step = sampler.step(model_output, t, latents, **step_with(sampler, torch.Generator().manual_seed(1)))
        alpha_bar = alpha_bar_of_step(sampler, t).float()
        ours = predict_clean_image(x_t, model_output, alpha_bar, prediction_type)
        # DPM-Solver++ and UniPC keep their x0 as the newest of their model outputs.
        theirs = step.pred_original_sample if hasattr(step, "pred_original_sample") else sampler.model_outputs[-1]
        scale = theirs.abs().max()
        torch.testing.assert_close(ours / scale, theirs / scale, atol=1e-5, rtol=0)
        latents = step.prev_sample


# ----- the pipeline against a plain diffusers loop ---------------------------------------------------------------


def plain_diffusers_loop(unet, training, name, prompt, guidance, steps, seed, interval=(0.0, math.inf)):
    """Textbook classifier-free guidance sampling, with diffusers parts only; guided at the steps whose
    noise level √((1 − ᾱ)/ᾱ) is in (low, high] of `interval`."""
    kind, options = SAMPLERS[name]
    sampler = kind.from_config(training.config, timestep_spacing="trailing", **options)
    sampler.set_timesteps(steps)
    generator = torch.Generator().manual_seed(seed)
    size = unet.config.sample_size
    latents = torch.randn(1, 1, size, size, generator=generator) * sampler.init_noise_sigma
    encoder = shared_text_encoder("cpu")
    prompt_text, empty_text = encoder.encode([prompt]), encoder.encode([""])

    def eps(text, x, t):
        return unet(x, t, encoder_hidden_states=text.tokens, encoder_attention_mask=text.mask, class_labels=text.pooled)

    for t in sampler.timesteps:
        x = sampler.scale_model_input(latents, t)
        output = eps(prompt_text, x, t).sample
        alpha_bar = training.alphas_cumprod[int(t)]
        if guidance != 1 and interval[0] < ((1 - alpha_bar) / alpha_bar).sqrt() <= interval[1]:
            unconditional = eps(empty_text, x, t).sample
            output = unconditional + guidance * (output - unconditional)
        latents = sampler.step(output, t, latents, **step_with(sampler, generator)).prev_sample
    return latents.clamp(-1, 1)


@pytest.mark.parametrize("guidance", [1.0, 3.0])
@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_the_pipeline_samples_what_a_plain_diffusers_loop_samples(name, guidance):
    training = training_schedule("v_prediction")
    pipe = TextToImagePipeline(unet=tiny_unet(), scheduler=training)
    pipe.set_progress_bar_config(disable=True)
    for interval in (DEFAULT_GUIDANCE_INTERVAL, (0.0, math.inf)):  # the default, and guidance at every step
        images = pipe("a bag", guidance_scale=guidance, num_inference_steps=4, seed=7, scheduler=name,
                      guidance_interval=interval, output_type="pt")  # fmt: skip
        with torch.no_grad():
            expected = plain_diffusers_loop(pipe.unet, training, name, "a bag", guidance, 4, 7, interval)
        torch.testing.assert_close(images.images, expected, atol=1e-4, rtol=0)
        assert expected.std() > 0  # the comparison is between real pictures, not two constants


# ----- the training loss -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def training_data(base_tiny_config, tmp_path_factory):
    return prepare_data(base_tiny_config, tmp_path_factory.mktemp("loss-run"))


@pytest.mark.parametrize("snr_gamma", [None, 5.0])
@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
def test_training_loss_is_the_weighted_mse_written_out(training_data, base_tiny_config, prediction_type, snr_gamma):
    config = copy.deepcopy(base_tiny_config)
    config.train.snr_gamma = snr_gamma
    schedule = DDPMScheduler(
        num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type=prediction_type
    )
    unet = tiny_unet(size=training_data.dataset.image_shape[-1])
    indices = torch.arange(8)
    with torch.no_grad():
        loss = training_loss(unet, schedule, training_data, indices, config, torch.Generator().manual_seed(3), "cpu")

        # The same random draws, in training_loss's order; then every formula by hand.
        rng = torch.Generator().manual_seed(3)
        data = training_data
        caption_ids = draw_captions(data, indices, config, rng)
        text = batch_text(data.embeddings, caption_ids, config, rng)
        noise = torch.randn((len(indices), *data.dataset.image_shape), generator=rng)
        t = torch.randint(0, 1000, (len(indices),), generator=rng)
        clean = data.dataset.images[indices].float() / 255 * 2 - 1
        alpha_bar = schedule.alphas_cumprod[t].view(-1, 1, 1, 1)
        noisy = alpha_bar.sqrt() * clean + (1 - alpha_bar).sqrt() * noise
        if prediction_type == "v_prediction":  # v = sqrt(a) eps - sqrt(1 - a) x0 (Salimans & Ho, 2022)
            target = alpha_bar.sqrt() * noise - (1 - alpha_bar).sqrt() * clean
        else:
            target = noise
        prediction = unet(
            noisy, t, encoder_hidden_states=text.tokens, encoder_attention_mask=text.mask, class_labels=text.pooled
        ).sample
        per_image = ((prediction - target) ** 2).mean(dim=(1, 2, 3))
        snr = (alpha_bar / (1 - alpha_bar)).flatten()
        if snr_gamma is None:
            weight = torch.ones_like(snr)
        else:  # min-SNR-gamma (Hang et al., 2023); for v the loss is already weighted by snr + 1
            weight = torch.minimum(snr, torch.tensor(snr_gamma)) / (
                snr + 1 if prediction_type == "v_prediction" else snr
            )
        expected = (per_image * weight).mean()

    torch.testing.assert_close(loss.loss, expected, atol=1e-6, rtol=1e-5)
    assert expected > 0
    # What the loss by noise level counts: each image's unweighted error at its own timestep.
    torch.testing.assert_close(loss.per_image, per_image, atol=1e-6, rtol=1e-5)
    assert torch.equal(loss.timesteps, t) and loss.num_train_timesteps == 1000
