package main

// The words the generated files are made of.

var syllables = []string{
	"ab", "ac", "ad", "al", "am", "an", "ar", "as", "at", "ba", "be", "bi", "bo", "bu", "ca", "ce", "ci",
	"co", "cu", "da", "de", "di", "do", "du", "el", "em", "en", "er", "es", "fa", "fe", "fi", "fo", "fu",
	"ga", "ge", "gi", "go", "gu", "ha", "he", "hi", "ho", "hu", "il", "im", "in", "ir", "is", "ja", "jo",
	"ka", "ke", "ki", "ko", "ku", "la", "le", "li", "lo", "lu", "ma", "me", "mi", "mo", "mu", "na", "ne",
	"ni", "no", "nu", "ob", "od", "ol", "om", "on", "or", "os", "pa", "pe", "pi", "po", "pu", "qu", "ra",
	"re", "ri", "ro", "ru", "sa", "se", "si", "so", "su", "ta", "te", "ti", "to", "tu", "ul", "um", "un",
	"ur", "us", "va", "ve", "vi", "vo", "wa", "we", "wi", "xa", "xe", "ya", "yo", "za", "ze", "zo",
	"lib", "gtk", "qt", "py", "rs", "go", "ml", "hs", "js", "tk", "x11", "fs", "db", "net", "kit",
}

var suffixes = []string{"cli", "utils", "tools", "server", "client", "unwrapped", "bin", "git", "ng", "lite", "full", "daemon", "gui", "rs", "go", "py"}

var vocabulary = []string{
	"a", "an", "the", "of", "to", "and", "for", "with", "in", "on", "from", "by", "is", "as", "that", "this",
	"library", "tool", "command", "line", "interface", "fast", "simple", "small", "modern", "terminal",
	"file", "files", "system", "manager", "server", "client", "network", "protocol", "data", "format",
	"parser", "compiler", "interpreter", "language", "runtime", "build", "package", "packages", "source",
	"binary", "version", "release", "support", "plugin", "plugins", "extension", "editor", "viewer",
	"image", "audio", "video", "stream", "streaming", "graphics", "rendering", "engine", "framework",
	"toolkit", "bindings", "wrapper", "utility", "utilities", "daemon", "service", "backend", "frontend",
	"database", "query", "storage", "cache", "proxy", "web", "http", "api", "json", "yaml", "xml", "config",
	"configuration", "option", "options", "default", "path", "paths", "install", "output", "input", "test",
	"tests", "check", "fix", "patch", "update", "upstream", "disable", "enable", "remove", "add", "use",
	"when", "not", "no", "only", "all", "any", "each", "new", "old", "do", "does", "can", "may", "must",
	"should", "be", "are", "has", "have", "it", "its", "we", "our", "you", "your", "which", "see", "also",
	"linux", "darwin", "unix", "posix", "kernel", "driver", "device", "hardware", "firmware", "usb",
	"memory", "thread", "threads", "process", "signal", "socket", "buffer", "string", "list", "map",
	"value", "key", "keys", "type", "types", "function", "module", "modules", "object", "class", "struct",
	"error", "errors", "warning", "log", "logging", "debug", "trace", "monitor", "metrics", "time", "date",
	"user", "users", "group", "password", "secure", "security", "crypto", "encryption", "signature",
	"certificate", "ssl", "tls", "ssh", "git", "repository", "commit", "branch", "merge", "diff", "remote",
	"local", "shell", "script", "scripts", "python", "rust", "haskell", "ocaml", "perl", "ruby", "node",
	"lua", "java", "go", "cpp", "cmake", "meson", "ninja", "autotools", "pkg", "flags", "static", "shared",
	"dynamic", "link", "linker", "header", "headers", "docs", "documentation", "manual", "man", "page",
	"example", "examples", "share", "lib", "bin", "etc", "var", "usr", "opt", "src", "out", "dev", "doc",
	"window", "desktop", "theme", "icon", "icons", "font", "fonts", "color", "colors", "display", "screen",
	"keyboard", "mouse", "input", "game", "games", "emulator", "virtual", "machine", "container", "cloud",
	"cluster", "node", "nodes", "job", "jobs", "queue", "task", "tasks", "schedule", "backup", "restore",
	"archive", "compress", "compression", "decompress", "zip", "tar", "gzip", "xz", "zstd", "checksum",
	"hash", "hashes", "index", "search", "text", "markdown", "html", "css", "pdf", "document", "office",
	"spreadsheet", "calendar", "mail", "email", "chat", "message", "messages", "notification", "bar",
	"status", "panel", "menu", "widget", "widgets", "layout", "tiling", "compositor", "wayland", "x11",
}

var commonDeps = []string{
	"pkg-config", "cmake", "meson", "ninja", "makeWrapper", "installShellFiles", "autoreconfHook",
	"openssl", "zlib", "curl", "libxml2", "glib", "gtk3", "qt6", "python3", "perl", "ncurses", "readline",
	"sqlite", "libffi", "libpng", "libjpeg", "freetype", "fontconfig", "libX11", "libGL", "wayland",
	"systemd", "dbus", "libusb1", "pcre2", "boost", "gettext", "bzip2", "xz", "zstd", "libuv", "nodejs",
	"rustPlatform", "buildGoModule", "wrapGAppsHook3", "gobject-introspection", "libsodium", "lz4",
}

var fetchers = []string{"fetchFromGitHub", "fetchFromGitHub", "fetchFromGitHub", "fetchurl", "fetchFromGitLab", "fetchzip"}

var licenses = []string{"mit", "mit", "asl20", "gpl3Plus", "gpl2Plus", "gpl3Only", "gpl2Only", "bsd3", "bsd2", "lgpl21Plus", "mpl20", "isc", "unfree", "zlib", "agpl3Plus"}

var platforms = []string{"linux", "linux", "unix", "all", "darwin"}

var phases = []string{"installPhase", "buildPhase", "configurePhase", "checkPhase", "postInstall", "postPatch", "preConfigure", "postFixup", "preBuild"}

var flagAttrs = []string{"cmakeFlags", "mesonFlags", "configureFlags", "makeFlags"}

var boolAttrs = []string{"doCheck", "strictDeps", "enableParallelBuilding", "dontWrapQtApps", "doInstallCheck", "__structuredAttrs"}

var exts = []string{"c", "h", "cpp", "py", "rs", "go", "sh", "mk", "in", "txt", "toml", "json"}

var optionTypes = []string{"bool", "str", "port", "path", "int", "package", "lines", "nullOr types.str", "listOf types.str", "attrsOf types.anything", "enum [ \"info\" \"debug\" \"warn\" ]"}
