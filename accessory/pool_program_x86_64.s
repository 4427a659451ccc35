# The pool program for x86-64 Linux: accessory/pool_program.ts has its
# protocol and carries these instructions as bytes (a test re-assembles this
# file and compares). No libc. Kept across syscalls: r12-r14 received fds,
# r15 the NAME marker's value in our environment, rbp our pid.
        .intel_syntax noprefix
        .text
        .globl _start
_start:
        mov     rax, [rsp]                  # argc
        mov     r15, [rsp + 8*rax + 24]     # envp[1]: CM4ALL_SPAWN_NAME=...
        add     r15, 18                     # its value
        mov     edi, 3                      # close_range(3, ~0, 0): nothing inherited
        mov     esi, -1                     # but our socket (0) and /dev/null (1, 2)
        xor     edx, edx
        mov     eax, 436
        syscall
        mov     eax, 39                     # getpid
        syscall
        mov     rbp, rax
        sub     rsp, 8192
        # struct sigaction at [rsp]: handler, flags, restorer, mask
        mov     qword ptr [rsp + 8], 0
        mov     qword ptr [rsp + 16], 0
        mov     qword ptr [rsp + 24], 0
        # SIGCHLD ignored: the kernel reaps the orphans of every init cloned
        # from here. INT, QUIT, HUP, TERM ignored: the daemon ends us (end of
        # file), also when a terminal or `systemctl kill` signals us all.
        mov     esi, 1
        mov     edi, 17
        call    signal
        mov     edi, 2
        call    signal
        mov     edi, 3
        call    signal
        mov     edi, 1
        call    signal
        mov     edi, 15
        call    signal
        lea     rsi, [rip + comm_factory]
        call    set_comm

next:   # one request: a kind byte, and for "p" its fds (SCM_RIGHTS)
        lea     rax, [rsp + 176]
        mov     [rsp + 32], rax             # iov_base
        mov     qword ptr [rsp + 40], 16    # iov_len
        mov     qword ptr [rsp + 48], 0     # msg_name
        mov     qword ptr [rsp + 56], 0     # msg_namelen
        lea     rax, [rsp + 32]
        mov     [rsp + 64], rax             # msg_iov
        mov     qword ptr [rsp + 72], 1     # msg_iovlen
        lea     rax, [rsp + 112]
        mov     [rsp + 80], rax             # msg_control
        mov     qword ptr [rsp + 88], 64    # msg_controllen
        mov     qword ptr [rsp + 96], 0     # msg_flags
        xor     edi, edi
        lea     rsi, [rsp + 48]
        xor     edx, edx
        mov     eax, 47                     # recvmsg
        syscall
        cmp     rax, -4                     # EINTR
        je      next
        test    rax, rax
        jle     quit                        # end of file: the daemon is gone
        mov     r12, -1
        mov     r13, -1
        mov     r14, -1
        xor     ebx, ebx                    # fds received
        cmp     qword ptr [rsp + 88], 16
        jb      kind
        cmp     dword ptr [rsp + 120], 1    # SOL_SOCKET
        jne     kind
        cmp     dword ptr [rsp + 124], 1    # SCM_RIGHTS
        jne     kind
        mov     rbx, [rsp + 112]            # cmsg_len
        sub     rbx, 16
        shr     rbx, 2
        cmp     rbx, 1
        jb      kind
        movsxd  r12, dword ptr [rsp + 128]
        cmp     rbx, 2
        jb      kind
        movsxd  r13, dword ptr [rsp + 132]
        cmp     rbx, 3
        jb      kind
        movsxd  r14, dword ptr [rsp + 136]
kind:
        movzx   eax, byte ptr [rsp + 176]
        cmp     eax, 0x75                   # "u": a user namespace helper, our child
        je      user
        cmp     eax, 0x70                   # "p": an init, the daemon's child
        jne     bad
        cmp     rbx, 2
        jb      bad
        mov     edi, 0x28008000             # CLONE_PARENT|CLONE_NEWPID|CLONE_NEWIPC
        cmp     rbx, 3
        jb      1f
        mov     edi, 0x20008000             # CLONE_PARENT|CLONE_NEWPID: it joins the IPC namespace given
1:      call    clone
        test    rax, rax
        jz      init
        jmp     answer
user:
        mov     edi, 0x10000011             # CLONE_NEWUSER, SIGCHLD
        call    clone
        test    rax, rax
        jz      helper
        jmp     answer
bad:
        mov     rax, -22                    # EINVAL
answer: # the new pid, or -errno
        mov     [rsp + 176], eax
        mov     rdi, r12
        call    close_fd
        mov     rdi, r13
        call    close_fd
        mov     rdi, r14
        call    close_fd
        xor     edi, edi
        lea     rsi, [rsp + 176]
        mov     edx, 4
        mov     eax, 1                      # write
        syscall
        jmp     next
quit:
        xor     edi, edi
exit:
        mov     eax, 231                    # exit_group
        syscall

init:   # PID 1 of a new PID namespace: fd r12 its command pipe, r13 its ack pipe
        test    r14, r14
        js      1f
        mov     rdi, r14
        mov     esi, 0x08000000             # CLONE_NEWIPC
        mov     eax, 308                    # setns
        syscall
        test    rax, rax
        jnz     fail
        mov     rdi, r14
        call    close_fd
1:      mov     rdi, r12
        xor     esi, esi
        mov     eax, 33                     # dup2 to 0 (our copy of the daemon's socket goes)
        syscall
        test    rax, rax
        js      fail
        mov     rdi, r13
        mov     esi, 1
        mov     eax, 33                     # dup2 to 1
        syscall
        test    rax, rax
        js      fail
        mov     rdi, r12
        call    close_fd
        mov     rdi, r13
        call    close_fd
        lea     rsi, [rip + comm_init]
        call    set_comm
        xor     esi, esi                    # SIG_DFL again for INT, QUIT, HUP, TERM
        mov     edi, 2
        call    signal
        mov     edi, 3
        call    signal
        mov     edi, 1
        call    signal
        mov     edi, 15
        call    signal
2:      xor     edi, edi                    # the daemon's one write: 16 bytes comm, then NAME
        lea     rsi, [rsp + 256]
        mov     edx, 4112
        xor     eax, eax                    # read
        syscall
        cmp     rax, -4
        je      2b
        cmp     rax, 16
        jl      quit                        # end of file: the daemon is gone, or dismissed us
        mov     rbx, rax
        lea     rsi, [rsp + 256]
        call    set_comm
        lea     rsi, [rsp + 272]            # NAME into our marker, zero-filled to its end
        lea     rcx, [rbx - 16]
        mov     rdi, r15
3:      cmp     byte ptr [rdi], 0
        je      4f
        xor     edx, edx
        test    rcx, rcx
        jz      5f
        mov     dl, [rsi]
        inc     rsi
        dec     rcx
5:      mov     [rdi], dl
        inc     rdi
        jmp     3b
4:      mov     edi, 1                      # "." : it shows as init-NAME
        lea     rsi, [rip + dot]
        mov     edx, 1
        mov     eax, 1
        syscall
        mov     edi, 1
        call    close_fd
        xor     edi, edi
        call    close_fd
        jmp     halt

helper: # in a new user namespace, until the daemon has its maps and kills it
        xor     edi, edi                    # our copy of the daemon's socket goes first
        call    close_fd
        lea     rsi, [rip + comm_user]
        call    set_comm
        mov     edi, 1                      # PR_SET_PDEATHSIG
        mov     esi, 9                      # SIGKILL
        mov     eax, 157
        syscall
        mov     eax, 110                    # getppid: still us, or we died meanwhile
        syscall
        cmp     rax, rbp
        jne     quit
halt:
        mov     eax, 34                     # pause
        syscall
        jmp     halt
fail:
        mov     edi, 1
        jmp     exit

# clone(edi flags): fork semantics (own stack copy), parent gets the pid
clone:
        xor     esi, esi
        xor     edx, edx
        xor     r10d, r10d
        xor     r8d, r8d
        mov     eax, 56
        syscall
        ret
# rt_sigaction(edi, handler rsi) with the struct at the caller's [rsp]
signal:
        mov     [rsp + 8], rsi
        push    rsi
        lea     rsi, [rsp + 16]
        xor     edx, edx
        mov     r10d, 8
        mov     eax, 13
        syscall
        pop     rsi
        ret
# prctl(PR_SET_NAME, rsi)
set_comm:
        mov     edi, 15
        mov     eax, 157
        syscall
        ret
# close(rdi) unless negative
close_fd:
        test    rdi, rdi
        js      1f
        mov     eax, 3
        syscall
1:      ret

comm_factory:   .asciz "spawn-pool"
comm_init:      .asciz "spawn-pool-pid"
comm_user:      .asciz "spawn-pool-usr"
dot:            .ascii "."
