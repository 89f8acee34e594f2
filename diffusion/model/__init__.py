"""The networks and where they run: the diffusers UNet (unet.py), its attention processor that can
report maps (attention.py), the frozen MiniLM text encoder (text.py), the few-step student's guidance
input (student.py), and the device and number format (device.py).

May import: `diffusion.common`. Never data, prompts, sampling or anything above.
"""
