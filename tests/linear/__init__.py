"""Tests of skdml.linear: one file per learner or family, mirroring the package."""
