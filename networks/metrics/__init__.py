"""Image-quality and equivariance metrics, as NVIDIA's calc_metrics computes them.

equivariance: EQ-T, EQ-T_frac, EQ-R (Alias-Free GAN, appendix E). fid / kid / precision_recall: statistics of
Inception features (inception.py, the FID network of pytorch-fid). features: feature extraction of generated
images and image sets, with data-set features cached by content hash. registry: metric names -> functions,
the one entry point (`compute`) of the CLI and of training.
"""


class MetricError(ValueError):
    """A metric cannot be computed with these inputs; the message is one line for the user."""
