"""Datasets of episodes: the store, collection, the train/validation split and statistics."""

from ptgm.data.store import DatasetError, EpisodeInfo, EpisodeStore

__all__ = ["DatasetError", "EpisodeInfo", "EpisodeStore"]
