"""The maths, in data-flow order: region masks → Jacobians (cached) → region Grams → robust PCA and the
direction methods → edits (straight and path-following) → the leak metric and the locality protocol."""
