"""Named extensions of the pinned moto (one module per AWS operation family it lacks).

Each module defines `install()`, which adds the missing operations to moto's response classes,
following AWS's request and response shapes, with state kept per account and region.
"""
