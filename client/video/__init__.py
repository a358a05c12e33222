"""The file job: one video through key frames, the stylizer and the interpolator, out with its timing."""
