"""The photo path: a photo file → RGB (size-checked) → face found and aligned → the model's code by
optimisation; edits pasted back into the photo."""
