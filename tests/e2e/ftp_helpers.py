"""A minimal read-only FTP server (passive mode, binary RETR) for the e2e tests: just enough
of RFC 959 for libcurl's ftp:// downloads, on 127.0.0.1 port 0, in a thread."""
import socket
import socketserver
import threading


class _FtpHandler(socketserver.StreamRequestHandler):
    def reply(self, text):
        self.wfile.write((text + "\r\n").encode())

    def handle(self):
        files = self.server.files
        passive = None
        cwd = ""
        self.reply("220 test ftp")
        for _ in range(100):  # bounded conversation
            line = self.rfile.readline()
            if not line:
                break
            command, _, argument = line.decode().strip().partition(" ")
            command = command.upper()
            self.server.commands.append((command, argument))
            if command == "USER":
                self.reply("331 password please")
            elif command == "PASS":
                self.reply("230 logged in")
            elif command == "PWD":
                self.reply('257 "/"')
            elif command == "CWD":
                cwd = (argument.strip("/") + "/") if argument.strip("/") else ""
                self.reply("250 ok")
            elif command == "TYPE":
                self.reply("200 ok")
            elif command == "EPSV":
                passive = socket.create_server(("127.0.0.1", 0))
                passive.settimeout(10)
                self.reply(f"229 Entering Extended Passive Mode (|||{passive.getsockname()[1]}|)")
            elif command == "SIZE":
                name = cwd + argument.lstrip("/")
                self.reply(f"213 {len(files[name])}" if name in files else "550 no such file")
            elif command == "RETR":
                name = cwd + argument.lstrip("/")
                if name not in files or passive is None:
                    self.reply("550 no such file")
                    continue
                self.reply("150 sending")
                data, _ = passive.accept()
                data.sendall(files[name])
                data.close()
                passive.close()
                passive = None
                self.reply("226 done")
            elif command == "QUIT":
                self.reply("221 bye")
                break
            else:
                self.reply("502 not implemented")


class FtpServer:
    def __init__(self, files):
        self.tcp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _FtpHandler)
        self.tcp.daemon_threads = True
        self.tcp.files = files
        self.tcp.commands = []
        self.port = self.tcp.server_address[1]
        self.thread = threading.Thread(target=self.tcp.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    @property
    def commands(self):
        return self.tcp.commands

    def url(self, name):
        return f"ftp://127.0.0.1:{self.port}/{name}"

    def close(self):
        self.tcp.shutdown()
        self.tcp.server_close()
        self.thread.join(timeout=5)
