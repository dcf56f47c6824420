# Runs the same permission scenario on a filesystem (argv[1], a directory
# on it; with argv[2] `tree`, only lists what an earlier run left) as root, switching to other users in forked children for the
# operations they make, and prints one line per step: the step, then `ok`
# or the errno's name, then what it shows (a mode, an owner). The test
# that runs it compares the lines of a FUSE mount with the kernel's ext4.
import errno
import os
import stat
import subprocess
import sys
import time

ROOT = (0, 0, [])
ALICE = (1000, 1000, [1000, 2000])
BOB = (1001, 1001, [1001])
CAROL = (1002, 1002, [1002, 2000])
T = os.path.join(sys.argv[1], "t")


def p(rel):
    return os.path.join(T, rel)


def as_user(user, fn):
    """Runs fn as user in a child: `ok`, its result, or the errno's name."""
    uid, gid, groups = user
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgroups(groups)
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            out = fn()
            text = "ok" if out is None else "ok " + str(out)
        except OSError as e:
            text = errno.errorcode.get(e.errno, str(e.errno))
        os.write(w, text.encode())
        os._exit(0)
    os.close(w)
    text = b""
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        text += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return text.decode()


def shown(rel):
    st = os.lstat(p(rel))
    return "%o %d:%d" % (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)


def step(name, user, fn, show=None):
    result = as_user(user, fn)
    if show is not None:
        result += " -> " + shown(show)
    print(name + ": " + result)


def setup(rel, mode, owner, kind="file", data=b"data\n"):
    path = p(rel)
    if kind == "dir":
        os.mkdir(path)
    else:
        with open(path, "wb") as f:
            f.write(data)
    os.chown(path, owner[0], owner[1])
    os.chmod(path, mode)


def write(rel, data=b"more\n"):
    def fn():
        fd = os.open(p(rel), os.O_WRONLY | os.O_APPEND)
        os.write(fd, data)
        os.close(fd)

    return fn


def read(rel):
    def fn():
        with open(p(rel), "rb") as f:
            f.read()

    return fn


def create(rel, mode=0o644):
    def fn():
        os.close(os.open(p(rel), os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode))

    return fn


def ctime_moves(name, user, rel, fn, moved_to=None):
    """Whether fn (as user) moves rel's ctime forward (read at moved_to
    after a rename)."""
    before = os.lstat(p(rel)).st_ctime_ns
    time.sleep(0.02)
    result = as_user(user, fn)
    after = os.lstat(p(moved_to or rel)).st_ctime_ns
    print("ctime %s: %s, %s" % (name, result, "moved" if after > before else "kept"))


def print_tree():
    """What is left: every path with its mode, owner, links and size."""
    for top, dirs, files in os.walk(T):
        dirs.sort()
        for name in sorted(dirs + files):
            path = os.path.join(top, name)
            st = os.lstat(path)
            print("tree %s: %o %d:%d n%d s%d" % (
                os.path.relpath(path, T), st.st_mode, st.st_uid, st.st_gid,
                st.st_nlink, 0 if stat.S_ISDIR(st.st_mode) else st.st_size))


if sys.argv[2:] == ["tree"]:
    print_tree()
    sys.exit(0)

os.umask(0)
os.mkdir(T, 0o755)
setup("alice", 0o755, ALICE, "dir")
setup("shared", 0o777, ROOT, "dir")
setup("sticky", 0o1777, ROOT, "dir")
setup("sgid", 0o2777, (0, 2000), "dir")
setup("private", 0o700, ALICE, "dir")
setup("private/f", 0o644, ALICE)
setup("listonly", 0o744, ROOT, "dir")
setup("listonly/f", 0o644, ROOT)
setup("suid", 0o4777, ALICE)
setup("suidsgid", 0o6777, ALICE)
setup("sgid-noexec", 0o2766, (1000, 2000))
setup("group-file", 0o640, (0, 2000))
setup("alice/own", 0o644, ALICE)
setup("alice/setid", 0o6755, ALICE)
setup("alice/other-group", 0o755, (1000, 1001))
setup("alice/everyone-writes", 0o666, ALICE)
setup("root-setid", 0o6755, ROOT)
with open("/bin/true", "rb") as f:
    true_bytes = f.read()
setup("true", 0o755, ROOT, data=true_bytes)
setup("true-noexec", 0o744, ROOT, data=true_bytes)

# Search permission on every component, and the supplementary groups.
step("bob reads private/f", BOB, read("private/f"))
step("bob stats private/f", BOB, lambda: os.stat(p("private/f")) and None)
step("alice reads private/f", ALICE, read("private/f"))
step("bob lists listonly", BOB, lambda: sorted(os.listdir(p("listonly"))))
step("bob stats listonly/f", BOB, lambda: os.stat(p("listonly/f")) and None)
step("alice reads group-file", ALICE, read("group-file"))
step("carol reads group-file", CAROL, read("group-file"))
step("bob reads group-file", BOB, read("group-file"))
step("bob runs true", BOB, lambda: subprocess.run([p("true")], check=True) and None)
step("bob runs true-noexec", BOB, lambda: subprocess.run([p("true-noexec")]).returncode)
step("bob creates in alice", BOB, create("alice/bob"))
step("bob creates in shared", BOB, create("shared/bob"), "shared/bob")

# Writes and truncations by others clear S_ISUID and S_ISGID.
step("bob appends to suid", BOB, write("suid"), "suid")
step("bob truncates suidsgid", BOB, lambda: os.truncate(p("suidsgid"), 1), "suidsgid")
step("bob appends to sgid-noexec", BOB, write("sgid-noexec"), "sgid-noexec")
step("root appends to root-setid", ROOT, write("root-setid"), "root-setid")

# chown and chgrp.
step("alice chgrps own to 2000", ALICE, lambda: os.chown(p("alice/own"), -1, 2000), "alice/own")
step("alice chgrps own to 1001", ALICE, lambda: os.chown(p("alice/own"), -1, 1001), "alice/own")
step("alice chowns own to bob", ALICE, lambda: os.chown(p("alice/own"), 1001, -1), "alice/own")
step("bob chgrps alice's file", BOB, lambda: os.chown(p("alice/own"), -1, 1001), "alice/own")
step("alice chgrps setid to 2000", ALICE, lambda: os.chown(p("alice/setid"), -1, 2000), "alice/setid")
step("root chowns root-setid", ROOT, lambda: os.chown(p("root-setid"), 5, 5), "root-setid")

# chmod.
step("bob chmods alice's file", BOB, lambda: os.chmod(p("alice/own"), 0o777), "alice/own")
step("alice sets sticky on a file", ALICE, lambda: os.chmod(p("alice/own"), 0o1644), "alice/own")
step("alice sets setgid outside her groups", ALICE,
     lambda: os.chmod(p("alice/other-group"), 0o2755), "alice/other-group")
step("alice sets setgid in her group", ALICE, lambda: os.chmod(p("alice/own"), 0o2755), "alice/own")

# Times: the current time to a writer, explicit times to the owner.
step("bob touches everyone-writes now", BOB, lambda: os.utime(p("alice/everyone-writes"), None))
step("bob sets times of everyone-writes", BOB,
     lambda: os.utime(p("alice/everyone-writes"), (1, 1)))
step("bob touches own now", BOB, lambda: os.utime(p("alice/own"), None))
step("alice sets times of own", ALICE, lambda: os.utime(p("alice/own"), (5, 5)))
step("root sets times of own", ROOT, lambda: os.utime(p("alice/own"), (6, 6)))

# Sticky directories.
step("alice creates sticky/a", ALICE, create("sticky/a"))
step("bob creates sticky/b", BOB, create("sticky/b"))
step("alice mkdirs sticky/ad", ALICE, lambda: os.mkdir(p("sticky/ad")))
step("bob unlinks sticky/a", BOB, lambda: os.unlink(p("sticky/a")))
step("bob renames sticky/a", BOB, lambda: os.rename(p("sticky/a"), p("sticky/x")))
step("bob renames over sticky/a", BOB, lambda: os.rename(p("sticky/b"), p("sticky/a")))
step("bob rmdirs sticky/ad", BOB, lambda: os.rmdir(p("sticky/ad")))
step("root unlinks sticky/b", ROOT, lambda: os.unlink(p("sticky/b")))
step("alice unlinks sticky/a", ALICE, lambda: os.unlink(p("sticky/a")))

# Setgid directories pass their group on, and S_ISGID to directories.
step("bob creates in sgid", BOB, create("sgid/bob", 0o2755), "sgid/bob")
step("alice creates in sgid", ALICE, create("sgid/alice", 0o2755), "sgid/alice")
step("bob mkdirs in sgid", BOB, lambda: os.mkdir(p("sgid/bobdir"), 0o755), "sgid/bobdir")
step("bob mkdirs below", BOB, lambda: os.mkdir(p("sgid/bobdir/sub"), 0o700), "sgid/bobdir/sub")
step("bob mknods a fifo in sgid", BOB, lambda: os.mkfifo(p("sgid/fifo"), 0o2666), "sgid/fifo")

# Renames over directories, names that exist.
step("alice mkdirs shared/a/x", ALICE, lambda: os.makedirs(p("shared/a/x")))
step("alice mkdirs shared/b", ALICE, lambda: os.mkdir(p("shared/b")))
step("alice creates shared/f", ALICE, create("shared/f"))
step("alice renames b over a", ALICE, lambda: os.rename(p("shared/b"), p("shared/a")))
step("alice renames f over b", ALICE, lambda: os.rename(p("shared/f"), p("shared/b")))
step("alice renames b over f", ALICE, lambda: os.rename(p("shared/b"), p("shared/f")))
step("alice mkdirs a", ALICE, lambda: os.mkdir(p("shared/a")))
step("alice links f to a", ALICE, lambda: os.link(p("shared/f"), p("shared/a")))
step("alice rmdirs a", ALICE, lambda: os.rmdir(p("shared/a")))
step("alice renames a over b", ALICE, lambda: os.rename(p("shared/a"), p("shared/b")))
step("bob links alice's file", BOB, lambda: os.link(p("alice/own"), p("shared/own-link")))
step("bob links his file", BOB, lambda: os.link(p("shared/bob"), p("shared/bob-link")))
step("root chowns sgid-noexec", ROOT, lambda: os.chown(p("sgid-noexec"), 1000, 1000),
     "sgid-noexec")
step("root sets it again", ROOT, lambda: os.chmod(p("sgid-noexec"), 0o2766), "sgid-noexec")
step("bob truncates sgid-noexec", BOB, lambda: os.truncate(p("sgid-noexec"), 0), "sgid-noexec")
step("root chmods a directory 2755", ROOT, lambda: os.chmod(p("shared/b"), 0o2755), "shared/b")
step("root chowns that directory", ROOT, lambda: os.chown(p("shared/b"), 1000, 1000), "shared/b")

# ctime moves with every change of metadata.
ctime_moves("chmod", ALICE, "alice/own", lambda: os.chmod(p("alice/own"), 0o640))
ctime_moves("chown", ROOT, "alice/own", lambda: os.chown(p("alice/own"), 1000, 1000))
ctime_moves("link", ROOT, "alice/own", lambda: os.link(p("alice/own"), p("alice/own2")))
ctime_moves("unlink", ROOT, "alice/own", lambda: os.unlink(p("alice/own2")))
ctime_moves("rename", ALICE, "shared/b", lambda: os.rename(p("shared/b"), p("shared/c")),
            "shared/c")
ctime_moves("rename dir", ALICE, "shared", lambda: os.rename(p("shared/c"), p("shared/b")))
ctime_moves("truncate", ALICE, "alice/own", lambda: os.truncate(p("alice/own"), 2))
ctime_moves("write", BOB, "alice/everyone-writes", write("alice/everyone-writes"))
ctime_moves("utimes", ALICE, "alice/own", lambda: os.utime(p("alice/own"), (7, 7)))
ctime_moves("setxattr", ALICE, "alice/own",
            lambda: os.setxattr(p("alice/own"), "user.k", b"v"))
ctime_moves("removexattr", ALICE, "alice/own",
            lambda: os.removexattr(p("alice/own"), "user.k"))
ctime_moves("same mode", ALICE, "alice/own", lambda: os.chmod(p("alice/own"), 0o640))
ctime_moves("create in", BOB, "shared", create("shared/new"))

print_tree()
