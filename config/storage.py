"""Static files as production serves them, in every deployment including `make run`."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """Hashed names even with DEBUG on (Django's manifest storage links unhashed ones then), so pages link what
    WhiteNoise serves with a far-future immutable Cache-Control. collectstatic (run by `make run`) makes them."""

    def url(self, name, force=False):
        return super().url(name, force=True)
