"""A visual vocabulary beside the captioner: ImageNet classes as weighted, readable tags.

``wordnet`` reads WordNet 3.0's noun database (ImageNet class ids are its noun offsets);
``vocabulary`` turns the 1,000 ImageNet-1k classes into readable names and the generic words above
them, written once to ``imagenet_tags.json`` (shipped, so indexing needs neither WordNet nor timm);
``tags`` turns a classifier's probabilities into each image's tags with confidences.
"""
