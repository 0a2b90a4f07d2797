#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A TCP relay between xmig-send and xmig-recv that loses one record of the
commit exchange (docs/stream-format.md, "The handshake"), then closes both
connections: the one ambiguous window of a migration, made on demand.

  relay_cut.py commit PORT_FILE RECV_PORT   the sender's COMMIT never reaches
                                            the receiver (no guest runs there)
  relay_cut.py done PORT_FILE RECV_PORT     COMMIT is delivered, the
                                            receiver's DONE is not (the guest
                                            runs there)

It listens on a free loopback port, writes its number to PORT_FILE, relays
the first connection record by record, prints "cut COMMIT" or "cut DONE"
once it has cut (nothing if the connection ended before that record), then
relays every later connection (an outcome query) byte for byte, until it
is killed."""
import os
import socket
import struct
import sys
import threading

COMMIT, DONE = 18, 19


def records(sock):
    """Yield each whole record read from sock (header, body, padding)."""
    buf = b""
    while True:
        while len(buf) >= 16:
            rtype, length = struct.unpack_from("<II", buf)
            size = 16 + length + (-length % 8)
            if len(buf) < size:
                break
            yield rtype, buf[:size]
            buf = buf[size:]
        data = sock.recv(1 << 16)
        if not data:
            return
        buf += data


def close_both(a, b):
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def pump_bytes(src, dst):
    try:
        while True:
            data = src.recv(1 << 16)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    close_both(src, dst)


def relay_raw(lsock, recv_port):
    """Later connections: a plain byte relay each."""
    while True:
        c, _ = lsock.accept()
        try:
            r = socket.create_connection(("127.0.0.1", recv_port))
        except OSError:
            c.close()
            continue
        for a, b in ((c, r), (r, c)):
            threading.Thread(target=pump_bytes, args=(a, b), daemon=True).start()


def main():
    mode, port_file, recv_port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cut_type = COMMIT if mode == "commit" else DONE
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    with open(port_file + ".tmp", "w") as f:
        f.write("%d\n" % lsock.getsockname()[1])
    os.rename(port_file + ".tmp", port_file)
    snd, _ = lsock.accept()
    rcv = socket.create_connection(("127.0.0.1", recv_port))
    cut = threading.Event()

    def pump(src, dst, watch):
        try:
            for rtype, rec in records(src):
                if watch and rtype == cut_type:
                    cut.set()
                    break
                dst.sendall(rec)
        except OSError:
            pass
        close_both(snd, rcv)

    up = threading.Thread(target=pump, args=(snd, rcv, cut_type == COMMIT))
    down = threading.Thread(target=pump, args=(rcv, snd, cut_type == DONE))
    up.start()
    down.start()
    up.join()
    down.join()
    if cut.is_set():
        print("cut " + ("COMMIT" if cut_type == COMMIT else "DONE"), flush=True)
    relay_raw(lsock, recv_port)


if __name__ == "__main__":
    main()
