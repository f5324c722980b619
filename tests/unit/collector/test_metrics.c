/* Unit tests: metrics text and the memory limit. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "metrics.h"

TEST(memory_limit_is_never_exceeded)
{
	struct col_metrics m;
	col_metrics_init(&m, 1000);
	ASSERT_TRUE(col_mem_reserve(&m, 600));
	ASSERT_FALSE(col_mem_reserve(&m, 401));
	ASSERT_TRUE(col_mem_reserve(&m, 400));
	ASSERT_FALSE(col_mem_reserve(&m, 1));
	ASSERT_EQ_U(m.mem_used, 1000);
	col_mem_release(&m, 600);
	ASSERT_FALSE(col_mem_reserve(&m, UINT64_MAX)); /* no wrap-around */
	ASSERT_TRUE(col_mem_reserve(&m, 600));
	ASSERT_EQ_U(m.mem_used, 1000);
}

TEST(text_format)
{
	struct col_metrics m;
	col_metrics_init(&m, 536870912);
	m.spans_received = 10;
	m.spans_accepted = 9;
	m.spans_rejected = 1;
	m.bytes_received = 1234;
	col_metrics_request(&m, COL_M_GRPC, COL_OUT_PARTIAL);
	col_metrics_request(&m, COL_M_HTTP, COL_OUT_INVALID);
	col_metrics_request(&m, COL_M_HTTP, COL_OUT_INVALID);
	char buf[8192];
	size_t n = col_metrics_render(&m, buf, sizeof(buf));
	ASSERT_LT(n, sizeof(buf));
	ASSERT_EQ_U(strlen(buf), n);
	ASSERT_TRUE(strstr(buf, "# TYPE ternd_spans_received_total counter\n"
				"ternd_spans_received_total 10\n") != NULL);
	ASSERT_TRUE((strstr(buf, "\nternd_spans_accepted_total 9\n")) != NULL);
	ASSERT_TRUE((strstr(buf, "\nternd_spans_rejected_total 1\n")) != NULL);
	ASSERT_TRUE((strstr(buf, "\nternd_bytes_received_total 1234\n")) != NULL);
	ASSERT_TRUE((strstr(buf, "\nternd_requests_total{protocol=\"grpc\",outcome=\"partial\"} 1\n")) != NULL);
	ASSERT_TRUE((strstr(buf, "\nternd_requests_total{protocol=\"http\",outcome=\"invalid\"} 2\n")) != NULL);
	ASSERT_TRUE((strstr(buf, "\nternd_requests_total{protocol=\"grpc\",outcome=\"ok\"} 0\n")) != NULL);
	ASSERT_TRUE((strstr(buf, "\nternd_memory_limit_bytes 536870912\n")) != NULL);
	ASSERT_TRUE((strstr(buf, "# TYPE ternd_queue_depth gauge\n")) != NULL);
	/* Every line is a comment or "name[{labels}] value". */
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		if (line[0] == '#')
			continue;
		char *sp = strrchr(line, ' ');
		ASSERT_TRUE((sp) != NULL);
		ASSERT_EQ(strncmp(line, "ternd_", 6), 0);
		char *end;
		strtoull(sp + 1, &end, 10);
		ASSERT_EQ(*end, '\0');
	}
}

TEST(truncation_reports_needed_length)
{
	struct col_metrics m;
	col_metrics_init(&m, 1);
	char small[32];
	size_t need = col_metrics_render(&m, small, sizeof(small));
	ASSERT_GT(need, sizeof(small));
	ASSERT_EQ_U(strlen(small), sizeof(small) - 1);
	char *big = malloc(need + 1);
	ASSERT_EQ_U(col_metrics_render(&m, big, need + 1), need);
	ASSERT_EQ_U(strlen(big), need);
	free(big);
}

TEST_MAIN(TEST_ENTRY(memory_limit_is_never_exceeded), TEST_ENTRY(text_format),
	  TEST_ENTRY(truncation_reports_needed_length))
