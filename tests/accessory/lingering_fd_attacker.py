# An attacker for hardening_test.ts (run as an unprivileged uid): connects to
# the accessory daemon and tries to pass it a TCP socket that lingers
# (SO_LINGER 60 s) with unsent data, then drops its own copy, so that the
# daemon's close() would be the last one and block for the linger time.
# Prints {"send": "sent"} or {"send": "<errno name>"}; holds everything open
# until stdin closes. With --signal ADDRESS, it sends only after a line on
# stdin and then sends a datagram "done" to ADDRESS. Python: an outside oracle with plain BSD sockets.
import array
import errno
import json
import os
import socket
import struct
import sys

address, request = sys.argv[1], bytes.fromhex(sys.argv[2])

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
server.bind(("127.0.0.1", 0))
server.listen(1)
lingering = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
lingering.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
lingering.connect(server.getsockname())
peer, _ = server.accept()  # never read: the data stays unsent
lingering.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 60))
lingering.setblocking(False)
try:
    while True:
        lingering.send(b"x" * 65536)
except BlockingIOError:
    pass

signal = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--signal" else None
if signal:
    sys.stdin.readline()  # the test says when
daemon = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
daemon.connect("\0" + address[1:])
try:
    daemon.sendmsg(
        [request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [lingering.fileno()]))]
    )
    result = "sent"
except OSError as e:
    result = errno.errorcode.get(e.errno, str(e.errno))
if result == "sent":
    lingering.close()  # the copy in flight to the daemon is the last one now
if signal:
    # The test keeps the daemon from reading until this arrives, so that the
    # daemon's close is surely the last one.
    done = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    done.sendto(b"done", "\0" + signal[1:])
print(json.dumps({"send": result}), flush=True)
sys.stdin.read()
if result == "sent":
    # Read what the daemon's copy still has to send, so that its close ends.
    peer.settimeout(10)
    try:
        while peer.recv(65536):
            pass
    except OSError:
        pass
# _exit: Python's finalizers would close() the lingering socket and wait;
# the kernel's close at exit does not linger (PF_EXITING).
os._exit(0)
