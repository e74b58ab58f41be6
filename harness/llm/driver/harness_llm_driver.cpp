// harness-llm-driver: time to first token and per-token latency of a GGUF model, measured
// on the device's CLOCK_MONOTONIC with llama.cpp's C API.
//
// Why a driver of our own: llama-bench prints one average per test (pp, tg), never the time
// to the first token, the spread between tokens or memory; llama-server's per-request
// timings need an HTTP server on the device and time only what the server chooses. This
// program does what a chat app does — load, prefill the prompt, sample the first token,
// then decode one token at a time — and stamps each step with the device clock. Nothing is
// printed inside the timed loop: stamps are kept in memory and printed as JSON lines after
// each repetition, so pipe or ssh back-pressure never enters a timing.
//
// Prompts are random token ids (as llama-bench uses), so tokenisation is not timed and no
// tokenizer is needed. Generation ignores end-of-generation tokens: every repetition
// produces exactly -n tokens. Greedy sampling over the full vocabulary is timed, as an app
// would pay it.
//
// Output: one JSON object per line on stdout (schema in harness/llm/driver.py);
// llama.cpp's own warnings and errors go to stderr. Exit 0 on success, 1 on a failure
// (an `error` event says which stage), 2 on bad arguments.

#include "llama.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifndef HARNESS_LLAMA_COMMIT
#define HARNESS_LLAMA_COMMIT "unknown"
#endif

static const int SCHEMA = 1;

static int64_t now_ns() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// Resident and peak resident memory in bytes: /proc (Linux, Android), else getrusage.
static void memory_bytes(int64_t * rss, int64_t * peak) {
    *rss = -1;
    *peak = -1;
    FILE * f = fopen("/proc/self/status", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            long long kb;
            if (sscanf(line, "VmRSS: %lld kB", &kb) == 1) *rss = kb * 1024;
            if (sscanf(line, "VmHWM: %lld kB", &kb) == 1) *peak = kb * 1024;
        }
        fclose(f);
    }
    if (*peak < 0) {  // no /proc: the kernel's maximum resident set size
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) == 0) {
#ifdef __APPLE__
            *peak = (int64_t) ru.ru_maxrss;          // bytes on macOS
#else
            *peak = (int64_t) ru.ru_maxrss * 1024;   // KiB elsewhere
#endif
        }
    }
    // VmHWM can lag VmRSS (per-thread RSS counters are folded in lazily): keep a running maximum
    static int64_t seen = -1;
    seen = std::max(seen, std::max(*rss, *peak));
    *peak = seen;
}

static std::string json_str(const std::string & s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += (char) c;
                }
        }
    }
    return out + "\"";
}

static void emit(const std::string & body) {
    fputs(("{" + body + "}\n").c_str(), stdout);
    fflush(stdout);
}

static void fail(const char * stage, const std::string & message, int code = 1) {
    emit("\"event\":\"error\",\"stage\":" + json_str(stage) + ",\"message\":" + json_str(message) +
         ",\"t_ns\":" + std::to_string(now_ns()));
    exit(code);
}

struct Options {
    std::string model;
    int n_prompt = 32, n_gen = 16, n_depth = 0, reps = 3, warmup = 1;
    int threads = 0, n_gpu_layers = 99, n_batch = 2048, n_ubatch = 512, n_ctx = 0, flash_attn = -1;
    unsigned seed = 42;
    int mmap = -1;  // -1: llama.cpp's default load mode
    bool verbose = false;
};

static const char * USAGE =
    "usage: harness-llm-driver -m MODEL.gguf [-p PROMPT_TOKENS=32] [-n GEN_TOKENS=16] [-d DEPTH=0]\n"
    "       [-r REPS=3] [-w WARMUP_REPS=1] [-t THREADS] [-ngl GPU_LAYERS=99] [-b BATCH=2048]\n"
    "       [-ub UBATCH=512] [-c CTX] [-fa -1|0|1] [-s SEED=42] [--mmap -1|0|1] [-v]\n";

static Options parse_args(int argc, char ** argv) {
    Options o;
    auto value = [&](int & i) -> const char * {
        if (i + 1 >= argc) fail("args", std::string("missing value after ") + argv[i], 2);
        return argv[++i];
    };
    auto integer = [&](int & i, int lo) -> int {
        const char * flag = argv[i];
        const char * v = value(i);
        char * end = nullptr;
        long x = strtol(v, &end, 10);
        if (*v == '\0' || *end != '\0' || x < lo || x > 1000000000L)
            fail("args", std::string(flag) + ": expected an integer >= " + std::to_string(lo) + ", got " + v, 2);
        return (int) x;
    };
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "-m") o.model = value(i);
        else if (a == "-p") o.n_prompt = integer(i, 1);
        else if (a == "-n") o.n_gen = integer(i, 1);
        else if (a == "-d") o.n_depth = integer(i, 0);
        else if (a == "-r") o.reps = integer(i, 1);
        else if (a == "-w") o.warmup = integer(i, 0);
        else if (a == "-t") o.threads = integer(i, 1);
        else if (a == "-ngl") o.n_gpu_layers = integer(i, -1);
        else if (a == "-b") o.n_batch = integer(i, 1);
        else if (a == "-ub") o.n_ubatch = integer(i, 1);
        else if (a == "-c") o.n_ctx = integer(i, 1);
        else if (a == "-fa") o.flash_attn = integer(i, -1);
        else if (a == "-s") o.seed = (unsigned) integer(i, 0);
        else if (a == "--mmap") o.mmap = std::min(1, integer(i, -1));
        else if (a == "-v") o.verbose = true;
        else if (a == "-h" || a == "--help") { fputs(USAGE, stderr); exit(0); }
        else fail("args", "unknown argument " + a, 2);
    }
    if (o.model.empty()) fail("args", "-m MODEL.gguf is required", 2);
    if (o.threads == 0) o.threads = std::max(1u, std::thread::hardware_concurrency());
    if (o.n_ctx == 0) o.n_ctx = o.n_depth + o.n_prompt + o.n_gen;
    if (o.n_ctx < o.n_depth + o.n_prompt + o.n_gen)
        fail("args", "-c " + std::to_string(o.n_ctx) + " is smaller than depth + prompt + generated tokens", 2);
    return o;
}

static bool g_verbose = false;

static void log_to_stderr(enum ggml_log_level level, const char * text, void *) {
    static enum ggml_log_level last = GGML_LOG_LEVEL_INFO;
    if (level != GGML_LOG_LEVEL_CONT) last = level;
    if (g_verbose || last >= GGML_LOG_LEVEL_WARN) fputs(text, stderr);
}

static std::string memory_fields() {
    int64_t rss, peak;
    memory_bytes(&rss, &peak);
    return ",\"rss_bytes\":" + std::to_string(rss) + ",\"peak_rss_bytes\":" + std::to_string(peak);
}

// Decode `tokens` in batches of n_batch; only the last position's logits are kept.
static void decode_all(llama_context * ctx, std::vector<llama_token> & tokens, int n_batch, const char * stage) {
    for (size_t i = 0; i < tokens.size(); i += (size_t) n_batch) {
        int n = (int) std::min(tokens.size() - i, (size_t) n_batch);
        int rc = llama_decode(ctx, llama_batch_get_one(tokens.data() + i, n));
        if (rc != 0) fail(stage, "llama_decode returned " + std::to_string(rc));
    }
    llama_synchronize(ctx);
}

static std::vector<llama_token> random_tokens(std::mt19937 & rng, const llama_vocab * vocab, int n, bool bos) {
    std::uniform_int_distribution<int> pick(0, llama_vocab_n_tokens(vocab) - 1);
    std::vector<llama_token> t(n);
    for (auto & x : t) x = pick(rng);
    llama_token b = llama_vocab_bos(vocab);
    if (bos && b != LLAMA_TOKEN_NULL) t[0] = b;
    return t;
}

int main(int argc, char ** argv) {
    Options o = parse_args(argc, argv);
    g_verbose = o.verbose;
    llama_log_set(log_to_stderr, nullptr);

    emit("\"event\":\"hello\",\"schema\":" + std::to_string(SCHEMA) +
         ",\"clock\":\"CLOCK_MONOTONIC\",\"t_ns\":" + std::to_string(now_ns()) +
         ",\"pid\":" + std::to_string((long) getpid()) +
         ",\"llama_commit\":" + json_str(HARNESS_LLAMA_COMMIT) +
         ",\"system_info\":" + json_str(llama_print_system_info()) +
         ",\"model_path\":" + json_str(o.model) +
         ",\"n_prompt\":" + std::to_string(o.n_prompt) + ",\"n_gen\":" + std::to_string(o.n_gen) +
         ",\"n_depth\":" + std::to_string(o.n_depth) + ",\"reps\":" + std::to_string(o.reps) +
         ",\"warmup_reps\":" + std::to_string(o.warmup) + ",\"n_threads\":" + std::to_string(o.threads) +
         ",\"n_gpu_layers\":" + std::to_string(o.n_gpu_layers) + ",\"n_batch\":" + std::to_string(o.n_batch) +
         ",\"n_ubatch\":" + std::to_string(o.n_ubatch) + ",\"n_ctx\":" + std::to_string(o.n_ctx) +
         ",\"flash_attn\":" + std::to_string(o.flash_attn) + ",\"seed\":" + std::to_string(o.seed));

    int64_t t_load0 = now_ns();
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = o.n_gpu_layers;
    if (o.mmap >= 0) mp.load_mode = o.mmap ? LLAMA_LOAD_MODE_MMAP : LLAMA_LOAD_MODE_NONE;
    llama_model * model = llama_model_load_from_file(o.model.c_str(), mp);
    if (!model) fail("load", "llama.cpp could not load " + o.model);
    int64_t t_model = now_ns();
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t) o.n_ctx;
    cp.n_batch = (uint32_t) o.n_batch;
    cp.n_ubatch = (uint32_t) o.n_ubatch;
    cp.n_threads = cp.n_threads_batch = o.threads;
    cp.flash_attn_type = (enum llama_flash_attn_type) o.flash_attn;
    cp.no_perf = false;
    llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) fail("context", "llama.cpp could not create a context of " + std::to_string(o.n_ctx) + " tokens");
    int64_t t_ctx = now_ns();
    const llama_vocab * vocab = llama_model_get_vocab(model);
    char desc[256];
    llama_model_desc(model, desc, sizeof desc);
    emit("\"event\":\"load\",\"t_start_ns\":" + std::to_string(t_load0) + ",\"t_model_ns\":" + std::to_string(t_model) +
         ",\"t_end_ns\":" + std::to_string(t_ctx) + ",\"model_desc\":" + json_str(desc) +
         ",\"model_size_bytes\":" + std::to_string(llama_model_size(model)) +
         ",\"model_n_params\":" + std::to_string(llama_model_n_params(model)) +
         ",\"n_vocab\":" + std::to_string(llama_vocab_n_tokens(vocab)) +
         ",\"n_ctx_train\":" + std::to_string(llama_model_n_ctx_train(model)) +
         ",\"n_ctx\":" + std::to_string(llama_n_ctx(ctx)) + memory_fields());

    llama_sampler * smpl = llama_sampler_chain_init(llama_sampler_chain_default_params());
    llama_sampler_chain_add(smpl, llama_sampler_init_greedy());
    std::mt19937 rng(o.seed);
    std::vector<int64_t> stamps((size_t) o.n_gen);
    std::vector<llama_token> ids((size_t) o.n_gen);

    for (int rep = -o.warmup; rep < o.reps; rep++) {
        const bool warm = rep < 0;
        const std::string head = "\"rep\":" + std::to_string(rep) + ",\"warmup\":" + (warm ? "true" : "false");
        llama_memory_clear(llama_get_memory(ctx), false);
        llama_sampler_reset(smpl);
        llama_perf_context_reset(ctx);
        if (o.n_depth > 0) {  // context already holding n_depth tokens, as llama-bench -d: not timed as prefill
            std::vector<llama_token> depth = random_tokens(rng, vocab, o.n_depth, true);
            int64_t t0 = now_ns();
            decode_all(ctx, depth, o.n_batch, "depth");
            emit("\"event\":\"depth\"," + head + ",\"n_depth\":" + std::to_string(o.n_depth) +
                 ",\"t_start_ns\":" + std::to_string(t0) + ",\"t_end_ns\":" + std::to_string(now_ns()));
            llama_perf_context_reset(ctx);
        }
        std::vector<llama_token> prompt = random_tokens(rng, vocab, o.n_prompt, o.n_depth == 0);

        // -- timed: prefill, first token, then one token per decode --
        int64_t t_start = now_ns();
        decode_all(ctx, prompt, o.n_batch, "prefill");
        int64_t t_prefill = now_ns();
        ids[0] = llama_sampler_sample(smpl, ctx, -1);
        stamps[0] = now_ns();
        for (int k = 1; k < o.n_gen; k++) {
            llama_token prev = ids[(size_t) k - 1];
            int rc = llama_decode(ctx, llama_batch_get_one(&prev, 1));
            if (rc != 0) fail("decode", "llama_decode returned " + std::to_string(rc) + " at token " + std::to_string(k));
            ids[(size_t) k] = llama_sampler_sample(smpl, ctx, -1);
            stamps[(size_t) k] = now_ns();
        }
        // -- end of timed part --

        emit("\"event\":\"prefill\"," + head + ",\"n_prompt\":" + std::to_string(o.n_prompt) +
             ",\"n_depth\":" + std::to_string(o.n_depth) + ",\"t_start_ns\":" + std::to_string(t_start) +
             ",\"t_end_ns\":" + std::to_string(t_prefill));
        for (int k = 0; k < o.n_gen; k++)
            emit("\"event\":\"token\"," + head + ",\"index\":" + std::to_string(k) + ",\"id\":" +
                 std::to_string(ids[(size_t) k]) + ",\"t_ns\":" + std::to_string(stamps[(size_t) k]));
        llama_perf_context_data perf = llama_perf_context(ctx);
        char perf_json[256];
        snprintf(perf_json, sizeof perf_json,
                 "{\"t_p_eval_ms\":%.6f,\"n_p_eval\":%d,\"t_eval_ms\":%.6f,\"n_eval\":%d}",
                 perf.t_p_eval_ms, perf.n_p_eval, perf.t_eval_ms, perf.n_eval);
        emit("\"event\":\"rep\"," + head + ",\"n_prompt\":" + std::to_string(o.n_prompt) +
             ",\"n_gen\":" + std::to_string(o.n_gen) + ",\"n_depth\":" + std::to_string(o.n_depth) +
             ",\"t_start_ns\":" + std::to_string(t_start) + ",\"t_prefill_end_ns\":" + std::to_string(t_prefill) +
             ",\"t_first_token_ns\":" + std::to_string(stamps[0]) +
             ",\"t_end_ns\":" + std::to_string(stamps[(size_t) o.n_gen - 1]) + ",\"llama_perf\":" + perf_json +
             memory_fields());
    }

    llama_sampler_free(smpl);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    emit("\"event\":\"done\",\"t_ns\":" + std::to_string(now_ns()) + memory_fields());
    return 0;
}
