package initsys

// ChildPath is the PATH for children when the agent has none, as when the kernel
// starts it as init.
const ChildPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
