;;; drive.el --- open a file in Emacs with a shipped editors/emacs setup, complete, print  -*- lexical-binding: t; -*-

;; Run by tests/e2e/test_emacs.py as `emacs --batch -Q -l drive.el' in a scratch directory, with:
;;   CODESTRAL_TEST_REPO     the repository (editors/emacs is loaded from there)
;;   CODESTRAL_TEST_CLIENT   lsp-mode or eglot
;;   CODESTRAL_TEST_UI       capf (M-x completion-at-point) or company
;;   CODESTRAL_TEST_FILE     the file to open; point goes to its end
;;   CODESTRAL_TEST_SERVER   the server's command line, as JSON
;;   CODESTRAL_TEST_ENDPOINT the fake Codestral's URL; CODESTRAL_API_KEY its key
;; It prints the buffer between BUFFER-START and BUFFER-END lines on stdout; messages go to
;; stderr.  Every wait polls with a deadline.

;;; Code:

(setq debug-on-error t)
(setq package-user-dir (expand-file-name "elpa" default-directory))
(add-to-list 'package-directory-list "/usr/share/emacs/site-lisp/elpa")
(package-initialize)
(require 'json)

(defvar test-client (getenv "CODESTRAL_TEST_CLIENT"))
(defvar test-ui (getenv "CODESTRAL_TEST_UI"))
(defvar test-server (append (json-read-from-string (getenv "CODESTRAL_TEST_SERVER")) nil))
(defvar test-endpoint (getenv "CODESTRAL_TEST_ENDPOINT"))
(add-to-list 'load-path (expand-file-name "editors/emacs" (getenv "CODESTRAL_TEST_REPO")))

(defun test-wait (what predicate &optional seconds)
  "Poll PREDICATE (running timers and process output) until non-nil, or fail naming WHAT."
  (let ((deadline (+ (float-time) (or seconds 20))))
    (while (not (funcall predicate))
      (when (> (float-time) deadline)
        (error "No %s within %ss" what (or seconds 20)))
      (accept-process-output nil 0.02))))

(defun test-print-buffer ()
  (princ (format "BUFFER-START\n%sBUFFER-END\n" (buffer-string))))

(cond
 ((equal test-client "lsp-mode")
  (require 'lsp-mode)
  (setq lsp-session-file (expand-file-name "lsp-session" default-directory)
        lsp-enable-file-watchers nil lsp-restart 'ignore lsp-log-io t
        lsp-enable-snippet (equal test-ui "company"))
  (require 'codestral-lsp)
  ;; The shipped file's settings, pointed at the fake.
  (setq codestral-lsp-command test-server
        codestral-lsp-settings (append (list :endpoint test-endpoint) codestral-lsp-settings))
  (find-file (getenv "CODESTRAL_TEST_FILE"))
  (lsp-workspace-folders-add default-directory)
  (lsp)
  (test-wait "codestral-lsp initialized"
             (lambda () (seq-some (lambda (w) (eq (lsp--workspace-status w) 'initialized))
                                  (lsp-workspaces)))))
 ((equal test-client "eglot")
  (require 'eglot)
  (load "codestral-eglot")
  ;; The file's own hook starts eglot in python buffers; here with the test's server alone.
  (push (cons '(python-mode python-ts-mode) test-server) eglot-server-programs)
  (setq-default eglot-workspace-configuration
                `(:codestral (:endpoint ,test-endpoint :debounceMs 0)))
  (find-file (getenv "CODESTRAL_TEST_FILE"))
  ;; `eglot-ensure' connects after the current command: end one, as the command loop would.
  (run-hooks 'post-command-hook)
  (test-wait "eglot connected" (lambda () (eglot-current-server)))))

(goto-char (point-max))
(cond
 ((equal test-ui "capf")
  (completion-at-point))
 ((equal test-ui "company")
  (require 'company)
  (company-mode 1)
  (setq company-backends '(company-capf))
  (company-manual-begin)
  (test-wait "company candidates" (lambda () company-candidates))
  (message "company candidates: %S" company-candidates)
  (company-complete-selection)))
;; The item's command (counting the accept) runs after the edit; let its reply arrive.
(accept-process-output nil 0.2)
(test-print-buffer)
(kill-emacs 0)
;;; drive.el ends here
