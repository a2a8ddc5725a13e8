"""ptgm's version, which every artefact's provenance records (its own module, so that `ptgm.io` need not import
the package's face, which hands on the API from the top floor)."""

__version__ = "0.1.0"
