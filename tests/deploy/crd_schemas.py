"""Schemas of the operators' objects that no package here ships.

The RabbitMQ Cluster Operator's and Messaging Topology Operator's CRDs
(rabbitmq.com/v1beta1) and CloudNativePG's (postgresql.cnpg.io/v1) are
published only in those projects' release manifests, which no PyPI or npm
package carries. So these are NOT the published schemas: they are minimal
JSON Schemas written for this project from the operators' API references,
covering only the fields k8s/ uses — their names, types, required fields and
enumerations — and refusing any other field (``additionalProperties: false``)
so a typo or a field from another version fails here rather than in the
cluster. A field added to k8s/ must be added here first.
"""

def _obj(properties, required=(), extra=False):
    schema = {"type": "object", "properties": properties, "additionalProperties": extra}
    if required:
        schema["required"] = list(required)
    return schema


STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
QUANTITY = {"type": ["string", "integer"], "pattern": r"^[0-9.]+(m|Ki|Mi|Gi|Ti)?$"}
REF = _obj({"name": STR}, ["name"])
RESOURCES = _obj({"requests": _obj({"cpu": QUANTITY, "memory": QUANTITY}),
                  "limits": _obj({"cpu": QUANTITY, "memory": QUANTITY})})
SECRET_KEY = _obj({"name": STR, "key": STR}, ["name", "key"])
# A pod template as the operators take it: left to the Kubernetes schema.
ANY_OBJECT = {"type": "object"}
METADATA = _obj({"name": STR, "namespace": STR, "labels": {"type": "object"},
                 "annotations": {"type": "object"}}, ["name"])


def _kind(api_version, kind, spec):
    return _obj({"apiVersion": {"const": api_version}, "kind": {"const": kind},
                 "metadata": METADATA, "spec": spec}, ["apiVersion", "kind", "metadata", "spec"])


RABBITMQ = "rabbitmq.com/v1beta1"
CNPG = "postgresql.cnpg.io/v1"
CLUSTER_REF = _obj({"name": STR}, ["name"])

SCHEMAS = {
    (RABBITMQ, "RabbitmqCluster"): _kind(RABBITMQ, "RabbitmqCluster", _obj({
        "replicas": {"type": "integer", "minimum": 1},
        "image": STR,
        "resources": RESOURCES,
        "persistence": _obj({"storage": QUANTITY, "storageClassName": STR}),
        "rabbitmq": _obj({"additionalConfig": STR, "additionalPlugins": {"type": "array", "items": STR}}),
        "override": _obj({"statefulSet": _obj({"spec": _obj({"template": _obj({"spec": ANY_OBJECT})})})}),
    })),
    (RABBITMQ, "Vhost"): _kind(RABBITMQ, "Vhost", _obj({
        "name": STR, "defaultQueueType": {"enum": ["classic", "quorum", "stream"]},
        "rabbitmqClusterReference": CLUSTER_REF,
    }, ["name", "rabbitmqClusterReference"])),
    (RABBITMQ, "User"): _kind(RABBITMQ, "User", _obj({
        "tags": {"type": "array", "items": {"enum": ["management", "policymaker", "monitoring",
                                                      "administrator"]}},
        "rabbitmqClusterReference": CLUSTER_REF,
        "importCredentialsSecret": REF,
    }, ["rabbitmqClusterReference"])),
    (RABBITMQ, "Permission"): _kind(RABBITMQ, "Permission", _obj({
        "vhost": STR,
        "user": STR,
        "userReference": REF,
        "permissions": _obj({"configure": STR, "write": STR, "read": STR}),
        "rabbitmqClusterReference": CLUSTER_REF,
    }, ["vhost", "permissions", "rabbitmqClusterReference"])),
    (CNPG, "Cluster"): _kind(CNPG, "Cluster", _obj({
        "instances": {"type": "integer", "minimum": 1},
        "imageName": STR,
        "primaryUpdateStrategy": {"enum": ["unsupervised", "supervised"]},
        "enablePDB": BOOL,
        "storage": _obj({"size": QUANTITY, "storageClass": STR}),
        "walStorage": _obj({"size": QUANTITY, "storageClass": STR}),
        "resources": RESOURCES,
        "affinity": _obj({"enablePodAntiAffinity": BOOL, "topologyKey": STR}),
        "postgresql": _obj({
            # PostgreSQL's parameters are strings in CNPG's API
            "parameters": {"type": "object", "additionalProperties": STR},
            "pg_hba": {"type": "array", "items": STR},
        }),
        "bootstrap": _obj({"initdb": _obj({"database": STR, "owner": STR, "secret": REF}),
                           "recovery": _obj({"source": STR, "database": STR, "owner": STR,
                                             "secret": REF,
                                             "recoveryTarget": _obj({"targetTime": STR})})}),
        "externalClusters": {"type": "array", "items": _obj({
            "name": STR, "barmanObjectStore": {"type": "object"}}, ["name"])},
        "managed": _obj({"roles": {"type": "array", "items": _obj({
            "name": STR, "ensure": {"enum": ["present", "absent"]}, "login": BOOL,
            "passwordSecret": REF, "connectionLimit": INT}, ["name"])}}),
        "monitoring": _obj({"enablePodMonitor": BOOL}),
        "backup": {"oneOf": [{"type": "null"}, _obj({
            "retentionPolicy": {"type": "string", "pattern": r"^[1-9][0-9]*[dwm]$"},
            "barmanObjectStore": _obj({
                "destinationPath": STR, "endpointURL": STR,
                "s3Credentials": _obj({"accessKeyId": SECRET_KEY, "secretAccessKey": SECRET_KEY},
                                      ["accessKeyId", "secretAccessKey"]),
                "wal": _obj({"compression": {"enum": ["gzip", "bzip2", "snappy"]}}),
                "data": _obj({"compression": {"enum": ["gzip", "bzip2", "snappy"]}}),
            }, ["destinationPath"]),
        })]},
    }, ["instances", "storage"])),
    (CNPG, "Database"): _kind(CNPG, "Database", _obj({
        "name": STR, "owner": STR, "cluster": CLUSTER_REF, "ensure": {"enum": ["present", "absent"]},
    }, ["name", "owner", "cluster"])),
    (CNPG, "Pooler"): _kind(CNPG, "Pooler", _obj({
        "cluster": CLUSTER_REF,
        "instances": {"type": "integer", "minimum": 0},
        "type": {"enum": ["rw", "ro", "r"]},
        "pgbouncer": _obj({
            "poolMode": {"enum": ["session", "transaction"]},
            "parameters": {"type": "object", "additionalProperties": STR},
        }, ["poolMode"]),
    }, ["cluster", "pgbouncer"])),
    (CNPG, "ScheduledBackup"): _kind(CNPG, "ScheduledBackup", _obj({
        # CNPG's cron has six fields, seconds first
        "schedule": {"type": "string", "pattern": r"^\S+( \S+){5}$"},
        "backupOwnerReference": {"enum": ["none", "self", "cluster"]},
        "cluster": CLUSTER_REF,
        "immediate": BOOL,
    }, ["schedule", "cluster"])),
}
