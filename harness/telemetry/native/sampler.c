/* harness telemetry sampler, native mode: same arguments and output lines as sampler.sh
 * and sampler_py.py, at a fraction of their CPU cost (no interpreter, no fork per sample).
 *
 *   harness-sampler PERIOD_US MAX_S PIDFILE TMPDIR TEGRA_MS VC_S PMIC_S PATH...
 *
 * Output lines (fields separated by one TAB), one write(2) each:
 *   H clock=monotonic wait=ppoll pid=<pid>
 *   S <stamp> <v1> ... <vN>     first line of each PATH ('-' when unreadable)
 *   A <stamp> <pid> <stat line> <VmRSS value> <unit>
 *   T <stamp> <tegrastats line>
 *   V <stamp> <vcgencmd output line>
 *   E <reason>                  term | max_time | closed
 * <stamp>: CLOCK_MONOTONIC in ns, the agent's clock, so the host maps nothing.
 * Files stay open and are read with pread(2) (sysfs regenerates an attribute on every read
 * at offset 0): one syscall per file and sample instead of open/read/close and a path
 * walk. They are reopened every REOPEN_NS, so a replaced file (a rebound hwmon device, a
 * fixture) is followed within that, and a vanished one then reads as '-'. Pacing is by
 * absolute deadlines (ppoll on the tegrastats pipe, if any); a sampler that falls more
 * than a period behind does not burst.
 * Standard C and POSIX/Linux calls only; built static by harness.telemetry.native.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 65536
#define REOPEN_NS 100000000LL /* 100 ms */

static volatile sig_atomic_t stop_requested = 0;
static pid_t tegra_pid = 0;

static void on_signal(int sig) { (void)sig; stop_requested = 1; }

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void finish(const char *reason) {
    char line[64];
    int n = snprintf(line, sizeof line, "E\t%s\n", reason);
    if (tegra_pid > 0) kill(tegra_pid, SIGTERM);
    if (write(1, line, (size_t)n) < 0) { /* nobody reads any more: just go */ }
    _exit(0);
}

/* One whole line to stdout; the reader went away: stop. */
static void out(const char *buf, size_t len) {
    while (len > 0) {
        ssize_t w = write(1, buf, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            finish("closed");
        }
        buf += w;
        len -= (size_t)w;
    }
}

/* An input file held open between samples, reopened every REOPEN_NS. */
struct source {
    const char *path;
    int fd;
    long long opened_ns;
};

static ssize_t source_read(struct source *src, char *buf, size_t cap, long long now) {
    if (src->fd >= 0 && now - src->opened_ns >= REOPEN_NS) {
        close(src->fd);
        src->fd = -1;
    }
    if (src->fd < 0) {
        src->fd = open(src->path, O_RDONLY | O_CLOEXEC);
        src->opened_ns = now;
        if (src->fd < 0) return -1;
    }
    ssize_t n = pread(src->fd, buf, cap, 0);
    if (n < 0) {
        close(src->fd);
        src->fd = -1;
    }
    return n;
}

/* Append the first line of a source (tabs made spaces, trimmed) or '-' to buf at *pos. */
static void append_value(char *buf, size_t *pos, size_t cap, struct source *src, long long now) {
    char data[4096];
    ssize_t n = source_read(src, data, sizeof data - 1, now);
    size_t start = 0, end = n > 0 ? (size_t)n : 0;
    for (size_t i = 0; i < end; i++)
        if (data[i] == '\n') { end = i; break; }
    while (start < end && (data[start] == ' ' || data[start] == '\r')) start++;
    while (end > start && (data[end - 1] == ' ' || data[end - 1] == '\r')) end--;
    if (*pos + 2 + (end - start) >= cap) return;
    buf[(*pos)++] = '\t';
    if (end == start) {
        buf[(*pos)++] = '-';
        return;
    }
    for (size_t i = start; i < end; i++) buf[(*pos)++] = data[i] == '\t' ? ' ' : data[i];
}

static int read_first_line(const char *path, char *dst, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, dst, cap - 1);
    close(fd);
    if (n <= 0) return -1;
    dst[n] = 0;
    char *nl = strchr(dst, '\n');
    if (nl) *nl = 0;
    return 0;
}

/* The agent's /proc stat line and VmRSS: one "A" line; -1 when the process is gone. */
static struct source agent_stat = {NULL, -1, 0}, agent_status = {NULL, -1, 0};
static char agent_stat_path[64], agent_status_path[64];

static void agent_follow(const char *pid) {
    if (agent_stat.fd >= 0) close(agent_stat.fd);
    if (agent_status.fd >= 0) close(agent_status.fd);
    agent_stat.fd = agent_status.fd = -1;
    snprintf(agent_stat_path, sizeof agent_stat_path, "/proc/%s/stat", pid);
    snprintf(agent_status_path, sizeof agent_status_path, "/proc/%s/status", pid);
    agent_stat.path = agent_stat_path;
    agent_status.path = agent_status_path;
}

static int agent_line(const char *pid, const char *stamp, long long now) {
    char stat[2048], status[8192], rss[64] = "-";
    ssize_t n = source_read(&agent_stat, stat, sizeof stat - 1, now);
    if (n <= 0) return -1;
    stat[n] = 0;
    stat[strcspn(stat, "\n")] = 0;
    n = source_read(&agent_status, status, sizeof status - 1, now);
    if (n > 0) {
        status[n] = 0;
        char *p = strstr(status, "VmRSS:");
        if (p) {
            unsigned long v;
            char unit[16];
            if (sscanf(p + 6, "%lu %15s", &v, unit) == 2) snprintf(rss, sizeof rss, "%lu\t%s", v, unit);
        }
    }
    char line[LINE_MAX_BYTES];
    int len = snprintf(line, sizeof line, "A\t%s\t%s\t%s\t%s\n", stamp, pid, stat, rss);
    if (len > 0 && (size_t)len < sizeof line) out(line, (size_t)len);
    return 0;
}

/* Lines of `vcgencmd ARGS`, each as a "V" line stamped `stamp`. */
static void vcgencmd(const char *args, const char *stamp) {
    char cmd[128], line[1024], buf[1200];
    snprintf(cmd, sizeof cmd, "vcgencmd %s 2>/dev/null", args);
    FILE *p = popen(cmd, "r");
    if (!p) return;
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        int n = snprintf(buf, sizeof buf, "V\t%s\t%s\n", stamp, line);
        if (n > 0 && (size_t)n < sizeof buf) out(buf, (size_t)n);
    }
    pclose(p);
}

static int start_tegrastats(int interval_ms) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        char ms[32];
        snprintf(ms, sizeof ms, "%d", interval_ms);
        dup2(fds[1], 1);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, 2);
        execlp("tegrastats", "tegrastats", "--interval", ms, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    tegra_pid = pid;
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    return fds[0];
}

/* Whatever tegrastats wrote: one "T" line per complete line. */
static char tegra_buf[LINE_MAX_BYTES];
static size_t tegra_len = 0;

static int drain_tegrastats(int fd) {
    for (;;) {
        ssize_t n = read(fd, tegra_buf + tegra_len, sizeof tegra_buf - 1 - tegra_len);
        if (n == 0) return -1; /* it exited */
        if (n < 0) return errno == EAGAIN || errno == EINTR ? 0 : -1;
        tegra_len += (size_t)n;
        char stamp[32];
        snprintf(stamp, sizeof stamp, "%lld", now_ns());
        char *start = tegra_buf, *nl;
        while ((nl = memchr(start, '\n', tegra_len - (size_t)(start - tegra_buf)))) {
            char line[LINE_MAX_BYTES + 64];
            int len = snprintf(line, sizeof line, "T\t%s\t%.*s\n", stamp, (int)(nl - start), start);
            if (len > 0 && (size_t)len < sizeof line) out(line, (size_t)len);
            start = nl + 1;
        }
        tegra_len -= (size_t)(start - tegra_buf);
        memmove(tegra_buf, start, tegra_len);
        if (tegra_len == sizeof tegra_buf - 1) tegra_len = 0; /* a line longer than the buffer */
    }
}

int main(int argc, char **argv) {
    if (argc < 8) {
        static const char usage[] = "usage: harness-sampler PERIOD_US MAX_S PIDFILE TMPDIR TEGRA_MS VC_S PMIC_S PATH...\n";
        if (write(2, usage, sizeof usage - 1) < 0) return 2;
        return 2;
    }
    long long period_ns = atoll(argv[1]) * 1000LL;
    double max_s = atof(argv[2]);
    const char *pidfile = argv[3];
    int tegra_ms = atoi(argv[5]);
    double vc_s = atof(argv[6]), pmic_s = atof(argv[7]);
    int npaths = argc - 8;
    struct source *sources = calloc((size_t)(npaths > 0 ? npaths : 1), sizeof *sources);
    if (!sources) return 1;
    for (int i = 0; i < npaths; i++) {
        sources[i].path = argv[8 + i];
        sources[i].fd = -1;
    }
    if (period_ns <= 0) period_ns = 1000000LL;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: ppoll returns at once */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a closed pipe is EPIPE from write: "closed" */

    char header[96];
    int hn = snprintf(header, sizeof header, "H\tclock=monotonic\twait=ppoll\tpid=%d\n", (int)getpid());
    out(header, (size_t)hn);

    int tegra_fd = tegra_ms > 0 ? start_tegrastats(tegra_ms) : -1;
    long long start = now_ns(), next = start;
    long long next_vc = start, next_pmic = start;
    char pid[32] = "";
    static char line[LINE_MAX_BYTES];

    while (!stop_requested) {
        long long t = now_ns();
        if ((double)(t - start) >= max_s * 1e9) finish("max_time");
        char stamp[32];
        snprintf(stamp, sizeof stamp, "%lld", t);
        size_t pos = (size_t)snprintf(line, sizeof line, "S\t%s", stamp);
        for (int i = 0; i < npaths; i++) append_value(line, &pos, sizeof line - 1, &sources[i], t);
        line[pos++] = '\n';
        out(line, pos);
        if (strcmp(pidfile, "-") != 0) {
            if (!pid[0] && read_first_line(pidfile, pid, sizeof pid) == 0) {
                pid[strcspn(pid, " \t\r")] = 0;
                agent_follow(pid);
            }
            if (pid[0] && agent_line(pid, stamp, t) < 0) pid[0] = 0; /* gone: the next worker writes its own */
        }
        if (vc_s > 0 && t >= next_vc) {
            vcgencmd("measure_temp", stamp);
            vcgencmd("get_throttled", stamp);
            vcgencmd("measure_clock arm", stamp);
            next_vc = t + (long long)(vc_s * 1e9);
        }
        if (pmic_s > 0 && t >= next_pmic) {
            vcgencmd("pmic_read_adc", stamp);
            next_pmic = t + (long long)(pmic_s * 1e9);
        }
        next += period_ns;
        for (;;) { /* wait for the deadline, passing tegrastats lines on as they come */
            long long wait = next - now_ns();
            if (wait < -period_ns) next = now_ns(); /* fell behind by more than a period: no burst */
            if (wait <= 0 || stop_requested) break;
            struct timespec ts = {(time_t)(wait / 1000000000LL), (long)(wait % 1000000000LL)};
            struct pollfd pfd = {tegra_fd, POLLIN, 0};
            int r = ppoll(tegra_fd >= 0 ? &pfd : NULL, tegra_fd >= 0 ? 1 : 0, &ts, NULL);
            if (r > 0 && drain_tegrastats(tegra_fd) < 0) {
                close(tegra_fd);
                tegra_fd = -1;
            }
        }
    }
    finish("term");
    return 0;
}
