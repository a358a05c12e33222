"""Live mode: a camera, a paced file or a synthetic scene, stylized as it comes (engine, stylizer link, preview)."""
