# The launcher of a Python run, given to `python3 -I -B -u -c`; argv[1:]
# is the program file and its arguments. It makes the run's stdin the
# uploaded one, gives matplotlib a writable config directory holding the
# rootfs's prebuilt font cache (so importing it does not rebuild the
# cache), runs the program as `__main__`, and saves the figures still
# open when the program ends as PNG files in /job.
import os
import sys


def _texjail_stdin():
    path = "/job/.texjail-stdin"
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    os.dup2(fd, 0)
    os.close(fd)
    # Unlinked, so the file listing shows only what the program wrote.
    os.unlink(path)


def _texjail_matplotlib_config():
    conf = os.environ.get("MPLCONFIGDIR")
    cache = "/usr/share/texjail/matplotlib"
    if not conf or not os.path.isdir(cache):
        return
    os.makedirs(conf, exist_ok=True)
    for name in os.listdir(cache):
        with open(os.path.join(cache, name), "rb") as src:
            data = src.read()
        with open(os.path.join(conf, name), "wb") as dst:
            dst.write(data)


def _texjail_save_figures():
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return
    for number in pyplot.get_fignums():
        name = "figure-%d.png" % number
        n = 1
        while os.path.lexists(os.path.join("/job", name)):
            n += 1
            name = "figure-%d-%d.png" % (number, n)
        try:
            pyplot.figure(number).savefig(os.path.join("/job", name), format="png")
        except Exception as e:
            print("texjail: figure %d not saved: %s" % (number, e), file=sys.stderr)


def _texjail_run():
    import types

    sys.argv = sys.argv[1:]
    path = os.path.abspath(sys.argv[0])
    sys.path.insert(0, os.path.dirname(path))
    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__builtins__ = __builtins__
    sys.modules["__main__"] = main
    status = 0
    try:
        with open(path, "rb") as f:
            source = f.read()
        exec(compile(source, path, "exec"), main.__dict__)
    except SystemExit:
        raise
    except BaseException as e:
        # The traceback starts at the program, as `python3 main.py` shows it.
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == "<string>":
            tb = tb.tb_next
        e.__traceback__ = tb
        sys.excepthook(type(e), e, tb)
        status = 1
    finally:
        _texjail_save_figures()
    if status:
        sys.exit(status)


def _texjail_signals():
    # Python ignores SIGXFSZ, so a write past RLIMIT_FSIZE would only
    # fail; with the default action the kernel ends the program and the
    # jail names the limit (`file_size`). `_signal`, not `signal`: the
    # latter imports `enum`, a few milliseconds of every run.
    import _signal

    _signal.signal(_signal.SIGXFSZ, _signal.SIG_DFL)


_texjail_signals()
_texjail_stdin()
_texjail_matplotlib_config()
_texjail_run()
