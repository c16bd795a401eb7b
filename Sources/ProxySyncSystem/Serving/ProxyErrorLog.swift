import Glibc
import ProxySyncCore

/// The proxy's error log, read best-effort for the line that explains a failed request.
enum ProxyErrorLog {
    /// Where the error log usually is: under a `-p PREFIX` / `-d ROOT` given to the test command, then the
    /// distributions' defaults.
    static func candidates(settings: ProxySettings) -> [String] {
        let argv = settings.testCommand
        var out: [String] = []
        for flag in ["-p", "-d"] {
            if let index = argv.firstIndex(of: flag), index + 1 < argv.count {
                out += ["\(argv[index + 1])/logs/error.log", "\(argv[index + 1])/logs/error_log"]
            }
        }
        switch settings.kind {
        case .nginx: out += ["/var/log/nginx/error.log"]
        case .apache: out += ["/var/log/apache2/error.log", "/var/log/httpd/error_log"]
        }
        return out
    }

    /// The last line of the first candidate written in the last minute, at most 500 characters.
    static func lastLine(settings: ProxySettings) -> String? {
        let now = time(nil)
        for path in candidates(settings: settings) {
            var info = stat()
            guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, now - info.st_mtim.tv_sec < 60 else {
                continue
            }
            let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            let size = Int(info.st_size)
            let window = min(size, 4096)
            var buffer = [UInt8](repeating: 0, count: window)
            let count = pread(fd, &buffer, window, off_t(size - window))
            guard count > 0 else { continue }
            let text = String(decoding: buffer[0..<count], as: UTF8.self)
            if let line = text.split(separator: "\n").last { return String(line.prefix(500)) }
        }
        return nil
    }
}
