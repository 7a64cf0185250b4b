"""Errors a person can act on.

Every ``KilnError`` message is one or two plain sentences that say what went wrong and what to
do about it; the CLI prints it as one line and the GUI shows it in the window. Anything that is
not a ``KilnError`` is a bug and is reported with its type so it can be filed.
"""


class KilnError(Exception):
    """Base class: the message is meant for the user, verbatim."""


class InvalidRequest(KilnError):
    """A request's parameters cannot be run (sizes, ranges, missing inputs)."""


class ModelError(KilnError):
    """A model reference cannot be resolved or loaded."""


class UnsafeCheckpoint(ModelError):
    """A checkpoint is a pickle (it can run code when opened) and was refused unopened."""


class ImageFileError(KilnError):
    """An image or mask file cannot be read."""


class UnsupportedImage(ImageFileError):
    """A file is not an image, or is an image in a format Kiln does not read."""


class DamagedImage(ImageFileError):
    """An image file is truncated or corrupt; nothing was loaded from it."""


class ImageTooLarge(ImageFileError):
    """An image has more pixels than Kiln's limit (or than memory allows) and was refused unopened."""


class ImageSaveError(ImageFileError):
    """An image could not be written; any file that was already at the path is untouched."""


class ProjectFileError(KilnError):
    """A Kiln project (.kiln) or recovery folder cannot be read or written; an existing file at
    the path is untouched and the open picture is unchanged."""


class InvalidSetting(KilnError):
    """An environment variable or setting holds a value Kiln cannot use."""


class DownloadError(KilnError):
    """A download could not finish; the message says what to do. Finished files are kept."""


class DownloadCancelled(DownloadError):
    """The caller's cancel event was set; the partial file stays so the next attempt resumes."""


class HubUnreachable(DownloadError):
    """No network, the hub is down, or downloads are switched off (HF_HUB_OFFLINE)."""


class RepoNotFound(DownloadError):
    """No such repository or revision on the hub (or it is private)."""


class RepoGated(DownloadError):
    """The repository needs its license accepted on the hub and a login."""


class DiskFull(DownloadError):
    """Not enough free space where the cache lives."""
