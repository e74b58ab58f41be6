"""One device, one session over adb (issue 11, item 7): the lock lives on the phone, made and
read through the phone's own shell (ln -s, readlink, stat), as it is over ssh."""

from __future__ import annotations

import pytest

from harness.device_lock import DeviceLock
from harness.errors import DeviceBusy
from harness.transports import open_transport

pytestmark = pytest.mark.timeout(180)


def test_two_holders_of_one_phone(adb_phone):
    with open_transport(adb_phone.profile) as first, open_transport(adb_phone.profile) as second:
        with DeviceLock(first, what="harness run A", wait_s=0) as lock:
            assert lock.notes == []
            with pytest.raises(DeviceBusy, match=r"device adb:.* is in use by harness run A, pid \d+"):
                DeviceLock(second, what="harness run B", wait_s=0.5, on_wait=lambda m: None).acquire()
        with DeviceLock(second, what="harness run B", wait_s=0) as lock:  # let go: the next one takes it
            assert lock.notes == []
