"""What the tool reads and writes: direction folders (directions.npy / .json / latent.npy), latent files
and their sidecars, and the image reports (grids, GIFs, HTML)."""
