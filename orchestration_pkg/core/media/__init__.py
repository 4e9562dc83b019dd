"""Media metadata from the fewest bytes: typed models, a ranged-read file object, probers."""
