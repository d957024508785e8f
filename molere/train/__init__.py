"""Training: tensors on the device, optimisers, the step functions and the epoch loop."""
