/* Unit tests: ternd configuration (flags > env > file > defaults), sizes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "harness.h"

static int load(struct col_config *c, char **argv, char **envp, char *err, size_t n)
{
	int argc = 0;
	while (argv[argc] != NULL)
		argc++;
	return col_config_load(c, argc, argv, envp, err, n);
}

static char *write_tmp(const char *text)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/ternd-cfg-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return NULL;
	ssize_t w = write(fd, text, strlen(text));
	(void)w;
	close(fd);
	return path;
}

TEST(parse_size)
{
	uint64_t v;
	ASSERT_OK(col_parse_size("512MiB", &v));
	ASSERT_EQ_U(v, 512ull << 20);
	ASSERT_OK(col_parse_size("64MB", &v));
	ASSERT_EQ_U(v, 64000000ull);
	ASSERT_OK(col_parse_size("1048576", &v));
	ASSERT_EQ_U(v, 1048576);
	ASSERT_OK(col_parse_size("2gib", &v));
	ASSERT_EQ_U(v, 2ull << 30);
	ASSERT_OK(col_parse_size("3 KiB", &v));
	ASSERT_EQ_U(v, 3072);
	ASSERT_OK(col_parse_size("10k", &v));
	ASSERT_EQ_U(v, 10000);
	ASSERT_EQ(col_parse_size("", &v), -EINVAL);
	ASSERT_EQ(col_parse_size("MiB", &v), -EINVAL);
	ASSERT_EQ(col_parse_size("12x", &v), -EINVAL);
	ASSERT_EQ(col_parse_size("-5", &v), -EINVAL);
	ASSERT_EQ(col_parse_size("99999999999999999999", &v), -EINVAL);
	ASSERT_EQ(col_parse_size("20000000TiB", &v), -EINVAL); /* overflow */
}

TEST(defaults)
{
	struct col_config c;
	char err[256];
	char *argv[] = { "ternd", NULL };
	char *envp[] = { NULL };
	ASSERT_OK(load(&c, argv, envp, err, sizeof(err)));
	ASSERT_STR_EQ(c.otlp_grpc, "127.0.0.1:4317");
	ASSERT_STR_EQ(c.otlp_http, "127.0.0.1:4318");
	ASSERT_STR_EQ(c.query, "127.0.0.1:16686");
	ASSERT_STR_EQ(c.data, "./data");
	ASSERT_STR_EQ(c.sink, "store");
	ASSERT_EQ_U(c.memory_limit, 512ull << 20);
	ASSERT_EQ(c.log_level, COL_LOG_INFO);
}

TEST(precedence_flags_env_file)
{
	struct col_config c;
	char err[256];
	char *path = write_tmp("# ternd config\n"
			       "otlp-grpc: 127.0.0.1:1111\n"
			       "otlp_http: 127.0.0.1:2222\n"
			       "query: 127.0.0.1:3333\n"
			       "memory-limit: 64MiB\n"
			       "log-level: debug\n");
	ASSERT_TRUE((path) != NULL);
	char cfgarg[80];
	snprintf(cfgarg, sizeof(cfgarg), "--config=%s", path);
	char *argv[] = { "ternd", cfgarg, "--otlp-grpc", "127.0.0.1:9999", NULL };
	char *envp[] = { "TERND_OTLP_GRPC=127.0.0.1:8888", "TERND_OTLP_HTTP=127.0.0.1:7777",
			 "UNRELATED=1", NULL };
	int r = load(&c, argv, envp, err, sizeof(err));
	unlink(path);
	ASSERT_OK(r);
	ASSERT_STR_EQ(c.otlp_grpc, "127.0.0.1:9999"); /* flag beats env and file */
	ASSERT_STR_EQ(c.otlp_http, "127.0.0.1:7777"); /* env beats file */
	ASSERT_STR_EQ(c.query, "127.0.0.1:3333");     /* file beats default */
	ASSERT_EQ_U(c.memory_limit, 64ull << 20);
	ASSERT_EQ(c.log_level, COL_LOG_DEBUG);
	ASSERT_STR_EQ(c.config_file, path);
}

TEST(config_from_env_var)
{
	struct col_config c;
	char err[256];
	char *path = write_tmp("max-attrs-per-span: 7\n");
	char envv[80];
	snprintf(envv, sizeof(envv), "TERND_CONFIG=%s", path);
	char *argv[] = { "ternd", NULL };
	char *envp[] = { envv, NULL };
	int r = load(&c, argv, envp, err, sizeof(err));
	unlink(path);
	ASSERT_OK(r);
	ASSERT_EQ(c.max_attrs_per_span, 7);
}

TEST(bad_values_have_messages)
{
	struct col_config c;
	char err[256];
	char *envp[] = { NULL };
	char *a1[] = { "ternd", "--memory-limit", "lots", NULL };
	ASSERT_EQ(load(&c, a1, envp, err, sizeof(err)), -EINVAL);
	ASSERT_STR_EQ(err, "--memory-limit: 'lots' is not a size (e.g. 512MiB, 64MB, 1048576)");
	char *a2[] = { "ternd", "--otlp-grpc", "nohost", NULL };
	ASSERT_EQ(load(&c, a2, envp, err, sizeof(err)), -EINVAL);
	ASSERT_STR_EQ(err, "--otlp-grpc: 'nohost' is not HOST:PORT (port 0-65535)");
	char *a3[] = { "ternd", "--bogus", NULL };
	ASSERT_EQ(load(&c, a3, envp, err, sizeof(err)), -EINVAL);
	ASSERT_STR_EQ(err, "unknown option '--bogus' (try --help)");
	char *a4[] = { "ternd", "--sink", "nowhere", NULL };
	ASSERT_EQ(load(&c, a4, envp, err, sizeof(err)), -EINVAL);
	ASSERT_TRUE(strstr(err, "unknown sink 'nowhere'") != NULL);
	char *a5[] = { "ternd", "--log-level", "loud", NULL };
	ASSERT_EQ(load(&c, a5, envp, err, sizeof(err)), -EINVAL);
	char *a6[] = { "ternd", "--max-attrs-per-span", "-1", NULL };
	ASSERT_EQ(load(&c, a6, envp, err, sizeof(err)), -EINVAL);
	char *a7[] = { "ternd", "--memory-limit", NULL };
	ASSERT_EQ(load(&c, a7, envp, err, sizeof(err)), -EINVAL);
	ASSERT_STR_EQ(err, "option '--memory-limit' needs a value");
	char *a8[] = { "ternd", NULL };
	char *e8[] = { "TERND_MEMORY_LIMIT=12q", NULL };
	ASSERT_EQ(load(&c, a8, e8, err, sizeof(err)), -EINVAL);
	ASSERT_STR_EQ(err, "environment TERND_MEMORY_LIMIT: '12q' is not a size (e.g. 512MiB, 64MB, 1048576)");
	char *a9[] = { "ternd", "--help", NULL };
	ASSERT_EQ(load(&c, a9, envp, err, sizeof(err)), 1);
}

TEST(bad_file)
{
	struct col_config c;
	char err[256];
	char *envp[] = { NULL };
	char *path = write_tmp("otlp-grpc: 127.0.0.1:1\nnot-an-option: 3\n");
	char *argv[] = { "ternd", "--config", path, NULL };
	int r = load(&c, argv, envp, err, sizeof(err));
	char want[128];
	snprintf(want, sizeof(want), "%s:2: unknown option 'not-an-option'", path);
	unlink(path);
	ASSERT_EQ(r, -EINVAL);
	ASSERT_STR_EQ(err, want);

	path = write_tmp("memory-limit: [1, 2]\n");
	argv[2] = path;
	r = load(&c, argv, envp, err, sizeof(err));
	unlink(path);
	ASSERT_EQ(r, -EINVAL);

	path = write_tmp("a: b: c\n");
	argv[2] = path;
	r = load(&c, argv, envp, err, sizeof(err));
	unlink(path);
	ASSERT_EQ(r, -EINVAL);

	/* Errors name the line of the node they are about. */
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "sink: store\nmemory-limit: [1, 2]\n", ":2: option 'memory-limit' must be a scalar value" },
		{ "sink: store\nquery: {a: 1}\n", ":2: option 'query' must be a scalar value" },
		{ "sink: store\n\nmemory-limit: lots\n", ":3: memory-limit: 'lots' is not a size" },
		{ "sink: store\n  bad: indent\n", ":2: " },               /* syntax */
		{ "a: b: c\n", ":1: " },
		{ "- sink\n- store\n", ":1: expected a mapping of option: value" },
		{ "sink: store\n---\nsink: null\n", ":3: only one YAML document" },
		{ "[a]: b\n", ":1: expected a mapping of option: value" },
		{ "sink: *nowhere\n", ":1: " },                           /* unknown alias */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		path = write_tmp(cases[i].text);
		argv[2] = path;
		r = load(&c, argv, envp, err, sizeof(err));
		unlink(path);
		if (r != -EINVAL || strncmp(err, path, strlen(path)) != 0 ||
		    strstr(err, cases[i].want) == NULL)
			fprintf(stderr, "case %zu: rc %d, err '%s', want '%s'\n", i, r, err,
				cases[i].want);
		ASSERT_EQ(r, -EINVAL);
		ASSERT_TRUE(strncmp(err, path, strlen(path)) == 0);
		ASSERT_TRUE(strstr(err, cases[i].want) != NULL);
	}

	/* Aliases are one node, not copies: legal, and cheap. */
	path = write_tmp("otlp-grpc: &a 127.0.0.1:7\nquery: *a\n");
	argv[2] = path;
	r = load(&c, argv, envp, err, sizeof(err));
	unlink(path);
	ASSERT_OK(r);
	ASSERT_STR_EQ(c.query, "127.0.0.1:7");

	/* An empty file is an empty config. */
	path = write_tmp("");
	argv[2] = path;
	r = load(&c, argv, envp, err, sizeof(err));
	unlink(path);
	ASSERT_OK(r);

	/* A config file is user input: its size is bounded. */
	size_t big = (256u << 10) + 1;
	char *text = malloc(big + 1);
	ASSERT_TRUE(text != NULL);
	memset(text, '#', big);
	text[big] = '\0';
	path = write_tmp(text);
	free(text);
	argv[2] = path;
	r = load(&c, argv, envp, err, sizeof(err));
	unlink(path);
	ASSERT_EQ(r, -EFBIG);
	ASSERT_TRUE(strstr(err, "larger than 262144 bytes") != NULL);

	/* ... and so is its tree: 30000 nodes in a small file. */
	size_t n_items = 30000;
	text = malloc(16 + n_items * 2);
	ASSERT_TRUE(text != NULL);
	size_t off = (size_t)sprintf(text, "sink: [");
	for (size_t i = 0; i < n_items; i++)
		off += (size_t)sprintf(text + off, "1,");
	sprintf(text + off - 1, "]\n");
	path = write_tmp(text);
	free(text);
	argv[2] = path;
	r = load(&c, argv, envp, err, sizeof(err));
	unlink(path);
	ASSERT_EQ(r, -EFBIG);
	ASSERT_TRUE(strstr(err, "more than 20000 YAML nodes") != NULL);

	argv[2] = "/nonexistent/ternd.yaml";
	ASSERT_EQ(load(&c, argv, envp, err, sizeof(err)), -ENOENT);
	ASSERT_STR_EQ(err, "/nonexistent/ternd.yaml: No such file or directory");
}

TEST_MAIN(TEST_ENTRY(parse_size), TEST_ENTRY(defaults), TEST_ENTRY(precedence_flags_env_file),
	  TEST_ENTRY(config_from_env_var), TEST_ENTRY(bad_values_have_messages),
	  TEST_ENTRY(bad_file))
