import { useStore } from 'zustand';
import { useAppServices } from '../app/app-services';

/** Failures of actions started from the list, which has no place of its own to show them. */
export function NotificationsArea() {
  const { stores } = useAppServices();
  const notices = useStore(stores.notifications, (state) => state.notices);
  const dismiss = useStore(stores.notifications, (state) => state.dismiss);

  return (
    <section className="notifications" aria-label="Notifications">
      {notices.map((notice) => (
        <div key={notice.id} role="alert" className="notice">
          <span className="notice-message">{notice.message}</span>
          <button type="button" className="icon-button" aria-label="Dismiss" onClick={() => dismiss(notice.id)}>
            ×
          </button>
        </div>
      ))}
    </section>
  );
}
