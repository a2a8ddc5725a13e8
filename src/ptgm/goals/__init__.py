"""The goal space: goal embedders (observation -> goal vector) and the clustered goal codebook."""
