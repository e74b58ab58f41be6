/*
 * Device side of the MLPerf Tiny / EEMBC EnergyRunner serial protocol.
 * See ee_protocol.h for the porting interface and firmware/README.md for the wire
 * format. No heap, no printf: a few small formatters write straight to the port.
 */
#include "ee_protocol.h"

/* -- output ------------------------------------------------------------------------- */

static size_t str_len(const char *s)
{
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

static void put(const char *s) { ee_port_write(s, str_len(s)); }

static void put_u32(uint32_t v)
{
    char buf[11];
    size_t i = sizeof buf;
    do {
        buf[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    ee_port_write(buf + i, sizeof buf - i);
}

/* printf("%0.3f") without printf: sign, integer part, three rounded decimals. */
static void put_f3(float x)
{
    if (x != x) { put("nan"); return; }
    double v = x;
    if (v < 0.0) {
        v = -v;
        if ((uint64_t)(v * 1000.0 + 0.5)) put("-"); /* no "-0.000" */
    }
    if (v > 4.0e9) v = 4.0e9;
    uint64_t milli = (uint64_t)(v * 1000.0 + 0.5);
    uint64_t whole = milli / 1000u;
    uint32_t frac = (uint32_t)(milli % 1000u);
    put_u32((uint32_t)whole);
    char f[4] = {'.', (char)('0' + frac / 100u), (char)('0' + frac / 10u % 10u), (char)('0' + frac % 10u)};
    ee_port_write(f, 4);
}

static void line_end(void) { ee_port_write("\r\n", 2); }

static void msg(const char *s) { put(s); line_end(); }

static void err(const char *what, const char *detail)
{
    put("e-[");
    put(what);
    if (detail) put(detail);
    put("]");
    line_end();
}

/* -- state ---------------------------------------------------------------------------- */

static char cmd[EE_CMD_MAX + 1];
static size_t cmd_len;
static uint8_t db[EE_DB_CAPACITY];
static size_t db_expected; /* bytes announced by the last `db load N` */
static size_t db_filled;
static float results[EE_RESULTS_MAX];
static size_t n_results;

/* -- parsing helpers ------------------------------------------------------------------ */

static int streq(const char *a, const char *b)
{
    while (*a && *a == *b) a++, b++;
    return *a == *b;
}

/* Split cmd in place at spaces; returns the number of words (at most max). */
static int split(char *s, char **words, int max)
{
    int n = 0;
    while (*s) {
        while (*s == ' ') *s++ = '\0';
        if (!*s) break;
        if (n == max) return max + 1; /* too many */
        words[n++] = s;
        while (*s && *s != ' ') s++;
    }
    return n;
}

/* Decimal without sign; returns 0 on anything else (or overflow past 2^32-1). */
static int parse_u32(const char *s, uint32_t *out)
{
    uint64_t v = 0;
    if (!*s) return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
        v = v * 10u + (uint64_t)(*s - '0');
        if (v > 0xFFFFFFFFu) return 0;
    }
    *out = (uint32_t)v;
    return 1;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* -- commands ------------------------------------------------------------------------- */

static void print_lap(uint32_t us)
{
    put("m-lap-us-");
    put_u32(us);
    line_end();
}

static void timestamp(void)
{
#if EE_ENERGY_MODE
    ee_port_timestamp_pulse();
#else
    /* Read the clock first: the print belongs to the time after the mark. */
    print_lap(ee_port_timestamp_us());
#endif
}

/* Boards that can align their clock at a window's start override this (see board.c). */
__attribute__((weak)) uint32_t ee_port_window_start_us(void)
{
    return ee_port_timestamp_us();
}

static void print_results(void)
{
    put("m-results-[");
    for (size_t i = 0; i < n_results; i++) {
        if (i) put(",");
        put_f3(results[i]);
    }
    put("]");
    line_end();
}

static void cmd_db(char **w, int n)
{
    if (n == 3 && streq(w[1], "load")) {
        uint32_t want;
        if (!parse_u32(w[2], &want) || want == 0) {
            err("db load needs a byte count above 0, got: ", w[2]);
            return;
        }
        if (want > EE_DB_CAPACITY) {
            err("db load: buffer holds fewer bytes than ", w[2]);
            return;
        }
        db_expected = want;
        db_filled = 0;
        put("m-[Expecting ");
        put_u32(want);
        put(" bytes]");
        line_end();
        return;
    }
    if (n == 2 && streq(w[1], "print")) {
        for (size_t i = 0; i < db_filled; i += 8) {
            put("m-buffer");
            for (size_t j = i; j < db_filled && j < i + 8; j++) {
                static const char digits[] = "0123456789abcdef";
                char h[3] = {'-', digits[db[j] >> 4], digits[db[j] & 15]};
                ee_port_write(h, 3);
            }
            line_end();
        }
        return;
    }
    if (n != 2) {
        err("db expects 'load N', 'print' or hex digits", 0);
        return;
    }
    const char *hex = w[1];
    size_t digits = str_len(hex);
    if (digits % 2) {
        err("Insufficent number of hex digits", 0); /* spelling as in the reference firmware */
        return;
    }
    if (db_filled + digits / 2 > db_expected) {
        err("db: more bytes than announced by db load", 0);
        return;
    }
    for (size_t i = 0; i < digits; i += 2) {
        int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);
        if (hi < 0 || lo < 0) {
            err("db: not a hex digit in ", hex);
            return;
        }
        db[db_filled++] = (uint8_t)(hi << 4 | lo);
    }
    if (db_filled == db_expected) msg("m-load-done");
}

static void cmd_infer(char **w, int n)
{
    uint32_t iterations = 1, warmups = 10; /* W defaults to 10 as in the reference */
    if (n > 3 || (n >= 2 && !parse_u32(w[1], &iterations)) || (n == 3 && !parse_u32(w[2], &warmups)) ||
        iterations == 0) {
        err("infer expects: infer N [W] with N > 0", 0);
        return;
    }
    if (db_filled == 0 || db_filled != db_expected) {
        err("infer: no complete input loaded (db load N, then db HEX...)", 0);
        return;
    }
    if (ee_model_load_input(db, db_filled) != 0) {
        put("e-[infer: the model refused ");
        put_u32((uint32_t)db_filled);
        put(" input bytes; it takes ");
        put_u32((uint32_t)ee_model_input_bytes());
        put("]");
        line_end();
        return;
    }
    put("m-warmup-start-");
    put_u32(warmups);
    line_end();
    for (uint32_t i = 0; i < warmups; i++) {
        if (ee_model_infer() != 0) {
            err("infer: inference failed", 0);
            return;
        }
    }
    msg("m-warmup-done");
    put("m-infer-start-");
    put_u32(iterations);
    line_end();
    int failed = 0;
#if EE_ENERGY_MODE
    timestamp();
    for (uint32_t i = 0; i < iterations && !failed; i++) failed = ee_model_infer();
    timestamp();
#else
    /* Both stamps are printed after the window, so the time to print the first one
     * (which depends on how many digits it has) is not part of the timed work. */
    uint32_t start = ee_port_window_start_us();
    for (uint32_t i = 0; i < iterations && !failed; i++) failed = ee_model_infer();
    uint32_t end = ee_port_timestamp_us();
    print_lap(start);
    print_lap(end);
#endif
    if (failed) {
        err("infer: inference failed", 0);
        return;
    }
    msg("m-infer-done");
    n_results = ee_model_results(results, EE_RESULTS_MAX);
    print_results();
}

static void cmd_help(void)
{
    msg(EE_FIRMWARE_ID);
    msg("help         : this list");
    msg("name         : device name");
    msg("profile      : firmware and model ids");
    msg("timestamp    : print a timestamp (energy mode: pulse the timestamp pin)");
    msg("db load N    : allocate N bytes for the input");
    msg("db HEX       : load hex digits into the input buffer");
    msg("db print     : show the input buffer");
    msg("infer N W    : load the input, run W warmups and N timed inferences");
    msg("results      : print the outputs of the last inference");
}

static void run_command(void)
{
    char *w[4];
    int n = split(cmd, w, 4);
    if (n == 0) {
        /* an empty command still gets its m-ready */
    } else if (n > 4) {
        err("Too many arguments", 0);
    } else if (streq(w[0], "name") && n == 1) {
        put("m-name-dut-[" EE_DEVICE_NAME "]");
        line_end();
    } else if (streq(w[0], "profile") && n == 1) {
        msg("m-profile-[" EE_FIRMWARE_ID "]");
        put("m-model-[");
        put(ee_model_id());
        put("]");
        line_end();
    } else if (streq(w[0], "timestamp") && n == 1) {
        timestamp();
    } else if (streq(w[0], "db") && n >= 2) {
        cmd_db(w, n);
    } else if (streq(w[0], "infer")) {
        cmd_infer(w, n);
    } else if (streq(w[0], "results") && n == 1) {
        print_results();
    } else if (streq(w[0], "help") && n == 1) {
        cmd_help();
    } else {
        err("Unknown command: ", w[0]);
    }
    msg("m-ready");
}

/* -- entry points ------------------------------------------------------------------- */

void ee_protocol_init(void)
{
    cmd_len = 0;
    db_expected = db_filled = n_results = 0;
#if EE_ENERGY_MODE
    msg("m-timestamp-mode-energy");
#else
    msg("m-timestamp-mode-performance");
#endif
    msg("m-init-done");
    msg("m-ready");
}

void ee_protocol_rx(char c)
{
    if (c == '%') {
        cmd[cmd_len] = '\0';
        run_command();
        cmd_len = 0;
    } else if (c == '\r' || c == '\n') {
        /* hosts may add a line ending after '%': ignore it */
    } else if (cmd_len < EE_CMD_MAX) {
        cmd[cmd_len++] = c;
    } /* else: clamp overlong commands */
}
