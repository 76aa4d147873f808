package inventory

// ApplySet labels and annotations (KEP-3659), shared with kubectl.
const (
	// LabelID on the parent identifies the set.
	LabelID = "applyset.kubernetes.io/id"
	// LabelPartOf on a member names the set it belongs to.
	LabelPartOf = "applyset.kubernetes.io/part-of"
	// AnnotationTooling on the parent names the tool that owns the set.
	AnnotationTooling = "applyset.kubernetes.io/tooling"
	// AnnotationGroupKinds on the parent lists the members' group-kinds, so a
	// reader knows which resources to list.
	AnnotationGroupKinds = "applyset.kubernetes.io/contains-group-kinds"
)

// modelsync's own annotations.
const (
	// AnnotationRevision on the parent is the git commit last synced.
	AnnotationRevision = "modelsync.dev/revision"
	// AnnotationBegan on the parent is the git commit of the last sync that
	// began (written before it writes anything): a sync cut off half-way
	// leaves the namespace part at that commit, though AnnotationRevision
	// still names the last one that completed.
	AnnotationBegan = "modelsync.dev/began-revision"
	// AnnotationRollbacks on the parent counts the syncs that went back to
	// an older commit (sync --allow-rollback): each makes every approval of
	// a plan made before it stale.
	AnnotationRollbacks = "modelsync.dev/rollbacks"
	// AnnotationTree on the parent names the tree the namespace is synced
	// from (manifest.Tree.ID): a namespace belongs to one tree.
	AnnotationTree = "modelsync.dev/tree"
	// AnnotationSyncedAt on the parent is when that sync finished (RFC 3339).
	AnnotationSyncedAt = "modelsync.dev/synced-at"
	// AnnotationPrune on a member set to "disabled" keeps it when it leaves the tree.
	AnnotationPrune = "modelsync.dev/prune"
	// AnnotationFence on an object modelsync wrote is the fence token of the
	// run that wrote it (its Lease, the Lease's transitions, a write
	// counter): the fence policy refuses a write whose token is not the
	// Lease's current one (rbac.Fence).
	AnnotationFence = "modelsync.dev/fence"
	// FenceRefusal begins every refusal of the fence policy (rbac.Fence).
	FenceRefusal = "modelsync fence: "
	// AnnotationDeleting is the fence token a prune marks an object with
	// just before it deletes it, so that the fence policy can refuse the
	// delete of a run that lost its Lease in between.
	AnnotationDeleting = "modelsync.dev/deleting"
	// AnnotationCoOwners on an object of the tree names the field managers
	// (comma-separated) whose fields added by hand are meant to stay: they
	// are not drift, and sync leaves them (diff.Imperative).
	AnnotationCoOwners = "modelsync.dev/co-owners"
	// LabelSurgeOf labels and selects the pods of a StatefulSet's surge
	// copy (sync.Manager.surged), and annotates the copy with the name of
	// the StatefulSet it stands in for.
	LabelSurgeOf = "modelsync.dev/surge-of"
	// AnnotationFailedRevision on a workload names the pod template
	// (diff.TemplateDigest) whose surge copy did not start, and
	// AnnotationFailedReason why: written by sync (field manager
	// modelsync-rollout) so that no later sync loads it again unasked.
	AnnotationFailedRevision = "modelsync.dev/failed-revision"
	AnnotationFailedReason   = "modelsync.dev/failed-reason"
	// AnnotationSecrets on the parent names the set's Secrets, so that
	// they are read by name: an identity may read those and no other
	// Secret of the namespace (a LIST cannot be limited to names).
	AnnotationSecrets = "modelsync.dev/secrets"
	// FieldManager is the server-side apply field manager of every write.
	FieldManager = "modelsync"
	// HandoverManager holds the fields modelsync gives up to a controller
	// that owns them without a managed-fields entry: spec.replicas of a
	// workload an autoscaler of the tree scales (diff.Prediction.Handover).
	HandoverManager = "modelsync-handover"
	// DefaultName is the default parent Secret name.
	DefaultName = "modelsync"
)
