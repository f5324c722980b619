/* yaml_tree.c: a bounded YAML file as a node tree (yaml_tree.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yaml_tree.h"

/* Reads at most COL_YAML_MAX_BYTES of path; -EFBIG past that. */
static int read_file(const char *path, unsigned char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return -errno;
	unsigned char *buf = malloc(COL_YAML_MAX_BYTES + 1);
	if (buf == NULL) {
		fclose(f);
		return -ENOMEM;
	}
	size_t n = fread(buf, 1, COL_YAML_MAX_BYTES + 1, f);
	int bad = ferror(f);
	fclose(f);
	if (bad || n > COL_YAML_MAX_BYTES) {
		free(buf);
		return bad ? -EIO : -EFBIG;
	}
	*out = buf;
	*len = n;
	return 0;
}

int col_ydoc_load(struct col_ydoc *d, const char *path, char *err, size_t errlen)
{
	memset(d, 0, sizeof(*d));
	d->path = path;
	unsigned char *text = NULL;
	size_t len = 0;
	int rc = read_file(path, &text, &len);
	if (rc != 0) {
		if (rc == -EFBIG)
			snprintf(err, errlen, "%s: larger than %u bytes", path, COL_YAML_MAX_BYTES);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser)) {
		free(text);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, text, len);
	if (!yaml_parser_load(&parser, &d->_doc)) {
		snprintf(err, errlen, "%s:%zu: %s", path, parser.problem_mark.line + 1,
			 parser.problem ? parser.problem : "YAML syntax error");
		rc = parser.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
		goto out_parser;
	}
	d->_loaded = 1;
	size_t nodes = (size_t)(d->_doc.nodes.top - d->_doc.nodes.start);
	if (nodes > COL_YAML_MAX_NODES) {
		snprintf(err, errlen, "%s: more than %u YAML nodes", path, COL_YAML_MAX_NODES);
		rc = -EFBIG;
		goto out_doc;
	}
	/* A second document would be ignored silently: refuse it. */
	if (yaml_document_get_root_node(&d->_doc) != NULL) {
		yaml_document_t next;
		if (!yaml_parser_load(&parser, &next)) {
			snprintf(err, errlen, "%s:%zu: %s", path, parser.problem_mark.line + 1,
				 parser.problem ? parser.problem : "YAML syntax error");
			rc = -EINVAL;
			goto out_doc;
		}
		yaml_node_t *root = yaml_document_get_root_node(&next);
		if (root != NULL) {
			snprintf(err, errlen, "%s:%zu: only one YAML document (no '---' between two)",
				 path, root->start_mark.line + 1);
			rc = -EINVAL;
		}
		yaml_document_delete(&next);
		if (rc != 0)
			goto out_doc;
	}
	yaml_parser_delete(&parser);
	free(text);
	return 0;

out_doc:
	yaml_document_delete(&d->_doc);
	d->_loaded = 0;
out_parser:
	yaml_parser_delete(&parser);
	free(text);
	return rc;
}

void col_ydoc_done(struct col_ydoc *d)
{
	if (d->_loaded)
		yaml_document_delete(&d->_doc);
	d->_loaded = 0;
}

yaml_node_t *col_ydoc_root(struct col_ydoc *d)
{
	return d->_loaded ? yaml_document_get_root_node(&d->_doc) : NULL;
}

size_t col_ynode_line(const yaml_node_t *n)
{
	return n->start_mark.line + 1;
}

const char *col_ynode_scalar(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

size_t col_ynode_len(const yaml_node_t *n)
{
	if (n->type == YAML_MAPPING_NODE)
		return (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (n->type == YAML_SEQUENCE_NODE)
		return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	return 0;
}

void col_ydoc_pair(struct col_ydoc *d, const yaml_node_t *n, size_t i, yaml_node_t **key,
		   yaml_node_t **value)
{
	const yaml_node_pair_t *p = &n->data.mapping.pairs.start[i];
	*key = yaml_document_get_node(&d->_doc, p->key);
	*value = yaml_document_get_node(&d->_doc, p->value);
}

yaml_node_t *col_ydoc_item(struct col_ydoc *d, const yaml_node_t *n, size_t i)
{
	return yaml_document_get_node(&d->_doc, n->data.sequence.items.start[i]);
}

int col_ydoc_fail(const struct col_ydoc *d, const yaml_node_t *n, char *err, size_t errlen,
		  const char *fmt, ...)
{
	int k = snprintf(err, errlen, "%s:%zu: ", d->path, col_ynode_line(n));
	if (k >= 0 && (size_t)k < errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err + k, errlen - (size_t)k, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}
