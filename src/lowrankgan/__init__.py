"""lowrankgan: local image edits in a GAN's latent space (Zhu et al., "Low-Rank Subspaces in GANs")."""

__version__ = "0.1.0"

from .api import edit, find_directions, locality, sample  # noqa: E402
from .files.directionfile import DirectionSet, load_directions, save_directions  # noqa: E402
from .errors import LowRankGANError  # noqa: E402
from .models import load_model  # noqa: E402



def main(argv: list[str] | None = None) -> int:
    """The ``lowrankgan`` command: the CLI's subcommands, ``serve`` starting the page. The one place
    that joins the two front ends (neither imports the other); both load only when called."""
    from .cli import main as cli_main
    from .web import serve
    return cli_main(argv, start_page=serve)


__all__ = ["__version__", "main", "edit", "find_directions", "locality", "sample", "load_model",
           "DirectionSet", "load_directions", "save_directions", "LowRankGANError"]
