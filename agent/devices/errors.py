"""Device errors: each names the device and says what to do."""

from __future__ import annotations

from shared.errors import LoyaltyError, Problem, ValidationError


class DeviceError(LoyaltyError):
    """A card reader or printer problem."""

    code = "device_error"
    status = 503


class ReaderUnavailable(DeviceError):
    """The card reader cannot be opened (not plugged in, wrong port, no permission)."""

    code = "reader_unavailable"


class PrinterUnavailable(DeviceError):
    """The printer cannot be reached or is not ready (paper, cover, offline)."""

    code = "printer_unavailable"

    def __init__(self, message: str, reason: str = "printer_unreachable") -> None:
        super().__init__(message)
        #: machine reason: printer_unreachable, no_status_answer, paper_out, cover_open, offline, printer_error
        self.reason = reason

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "reason": self.reason}


class SlipNotFound(LoyaltyError):
    """No slip with that id in the print queue."""

    code = "slip_not_found"
    status = 404


class DeviceSettingsError(ValidationError):
    """The device settings have problems; each names its setting."""

    code = "invalid_device_settings"
    what = "device settings"


__all__ = ["DeviceError", "DeviceSettingsError", "PrinterUnavailable", "Problem", "ReaderUnavailable", "SlipNotFound"]
