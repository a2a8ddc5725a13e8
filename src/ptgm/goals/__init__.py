"""The goal space (PTGM stages 2 and 3): goal embedders (observation -> goal vector) and the clustered
goal codebook that becomes the high-level action space.

    embedders.py   `state` (symbolic view + inventory) and `make_embedder`; learned.py: the `learned`
                   image encoder (`ptgm train-encoder`, temporal contrast on the dataset's pixels)
    sampling.py    goals sampled from the training split, with their action histories
    clustering.py  t-SNE / PCA reduction, k-means, the real sample nearest each centre
    codebook.py    the Codebook artefact (codes, embedder, sources; checked on load)
    build.py       `ptgm codebook`: the stage, end to end; pictures.py: what each code looks like
"""
